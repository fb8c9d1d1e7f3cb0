// Time is an input: the agent reads and waits on instants only through a Clock.
export interface Clock {
  now(): number;
  /** Calls fn, asynchronously, at (or just after) the absolute instant `at` in ms since the epoch; at once if past. */
  at(at: number, fn: () => void): () => void;
}

// setTimeout cannot wait longer than 2^31-1 ms and drifts on long waits: wake early, then re-arm.
const MAX_WAIT_MS = 60_000;

export const systemClock: Clock = {
  now: () => Date.now(),
  at(at, fn) {
    // Always asynchronous, an instant already past included: callers finish what they are doing first.
    let timer: NodeJS.Timeout;
    const arm = () => {
      const wait = at - Date.now();
      if (wait <= 0) return fn();
      timer = setTimeout(arm, Math.min(wait, MAX_WAIT_MS));
    };
    timer = setTimeout(arm, Math.min(Math.max(at - Date.now(), 0), MAX_WAIT_MS));
    return () => clearTimeout(timer);
  },
};
