// A reader of a server-sent event stream (GET /api/v1/live) over fetch, for tests and the benchmark:
// every event kept in order, and a wait for the next one that matches.
export interface SseEvent {
  event: string;
  data: unknown;
  at: number;
}

export async function openEventStream(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { ...headers, accept: 'text/event-stream' }, signal: controller.signal });
  if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}: ${await res.text()}`);
  const events: SseEvent[] = [];
  const waiters: { pred: (e: SseEvent) => boolean; from: number; resolve: (e: SseEvent) => void }[] = [];
  let ended!: () => void;
  const done = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut = buffer.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf('\n\n');
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (!data.length) continue;
          const e = { event, data: JSON.parse(data.join('\n')), at: performance.now() };
          events.push(e);
          for (const w of [...waiters])
            if (events.length - 1 >= w.from && w.pred(e)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(e);
            }
        }
      }
    } catch {
      // aborted
    }
    ended();
  })();
  return {
    events,
    status: res.status,
    contentType: res.headers.get('content-type'),
    /** Resolves when the server ended the stream (or it was closed). */
    done,
    /** The first event at or after index `from` (default: any so far) matching `pred`. */
    next(pred: (e: SseEvent) => boolean, opts: { from?: number; timeoutMs?: number } = {}): Promise<SseEvent> {
      const from = opts.from ?? 0;
      const seen = events.slice(from).find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          from,
          resolve: (e: SseEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching event within ${opts.timeoutMs ?? 30_000} ms`));
        }, opts.timeoutMs ?? 30_000);
        waiters.push(w);
      });
    },
    close: () => controller.abort(),
  };
}

/** The items of a live event. */
export const liveItems = (e: SseEvent) => (e.data as { items: { code: string; state: string; online: boolean }[] }).items;
