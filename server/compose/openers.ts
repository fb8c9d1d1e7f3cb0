// The signature workers: Ed25519 verification of what gateways sign (proofs, heartbeats, manifest acks),
// off the event loop, on every core but the one the event loop itself keeps busy (the ingest's database
// writes, MQTT, the API): one worker on 2 cores. Each is a JavaScript isolate of its own (~25 MB resident).
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Opener, OpenResult, OpenTask } from '../compliance/open-worker.ts';
import type { Parts } from './parts.ts';

export interface Openers {
  open: Opener;
  /** Threads in the pool: a batch is split into this many tasks. */
  count: number;
}

export function startOpeners(parts: Parts): Openers {
  const count = Math.max(1, availableParallelism() - 1);
  const pool = new Piscina<OpenTask, OpenResult[]>({ filename: workerFile(), minThreads: count, maxThreads: count });
  parts.add('signature workers', () => pool.destroy());
  return { open: (task) => pool.run(task), count };
}

/** The signature worker: compiled JavaScript beside this file in production, TypeScript under tsx. */
function workerFile(): string {
  const ext = import.meta.url.endsWith('.js') ? 'js' : 'ts';
  return new URL(`../compliance/open-worker.${ext}`, import.meta.url).href;
}
