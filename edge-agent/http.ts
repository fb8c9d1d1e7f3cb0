// The agent's HTTP: enrollment, the server's time, audio downloads with Range. Over node:http(s) rather
// than the global fetch, whose implementation (undici, loaded on first use) costs a gateway about 12 MB
// of resident memory for three kinds of request. Global fetch still fits `Fetch` (tests and the
// simulator pass it).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

export interface FetchAnswer {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  /** node:http's answer stream, or a web stream from the global fetch. */
  body: Readable | ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export type Fetch = (url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<FetchAnswer>;

/** No answer (or no byte of it) for this long fails the request; the callers retry on their own backoff. */
const IDLE_TIMEOUT_MS = 30_000;

export const nodeFetch: Fetch = (url, init = {}) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers = { ...init.headers, ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}) };
    const req = request(target, { method: init.method ?? 'GET', headers }, (res) => resolve(answer(res)));
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`${init.method ?? 'GET'} ${url}: nothing for ${IDLE_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(init.body);
  });

function answer(res: IncomingMessage): FetchAnswer {
  const status = res.statusCode ?? 0;
  const text = async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: {
      get: (name) => {
        const v = res.headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    },
    body: res,
    text,
    json: async () => JSON.parse(await text()) as unknown,
  };
}
