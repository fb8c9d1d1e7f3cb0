// A value that components can follow: the chosen language, the signed-in user.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Signal<T> {
  get(): T;
  set(value: T): void;
  subscribe(listener: (value: T) => void): () => void;
}

export function signal<T>(initial: T): Signal<T> {
  let value = initial;
  const listeners = new Set<(value: T) => void>();
  return {
    get: () => value,
    set(next) {
      value = next;
      for (const l of listeners) l(next);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Re-renders the component when the signal changes. */
export function useSignal<T>(s: Signal<T>): T {
  const [value, setValue] = useState(s.get());
  useEffect(() => s.subscribe(setValue), [s]);
  return value;
}

/**
 * For a view that reloads a list: each call starts a request and returns a check that is true only while
 * that request is the latest, so an older answer arriving late never replaces a newer one.
 */
export function useLatestRequest(): () => () => boolean {
  const counter = useRef(0);
  return useCallback(() => {
    const mine = ++counter.current;
    return () => mine === counter.current;
  }, []);
}
