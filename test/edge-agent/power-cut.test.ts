// A gateway killed mid-play (kill -9 of its whole process group: the agent and its ffmpeg, as a power
// cut would) tells the truth after it restarts: the item aired from its start for at least what was
// journalled, then was interrupted. The real agent program, server, broker and ffmpeg, on the real clock
// (two processes cannot share a fake one); every wait is on an event, never a sleep.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { untilJournal } from '../helpers/faults.ts';
import { enrollTokenFile, scheduleItem, startTestServer, uploadApproved } from '../helpers/server.ts';
import { deadline } from '../helpers/server-process.ts';

const server = await startTestServer();
t.teardown(() => server.stop());

/** Starts `npm run agent`'s program in its own process group; resolves once it logs the event. */
function startAgent(args: string[], untilEvent: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/main.ts', ...args], {
    cwd: join(import.meta.dirname, '../..'),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes(`"msg":"event ${untilEvent}"`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`agent exited ${code} before ${untilEvent}`)));
  });
  return { child, ready };
}

/** SIGKILLs the child's whole process group (the agent and any ffmpeg it left); a group already gone is fine. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

t.test('kill -9 mid-play, then restart: the item is reported as interrupted with what had aired', async (t) => {
  const station = 'HN-00049';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'cut.wav'), { seconds: 8, frequency: 440 }));
  const dataDir = mkdtempSync(join(tmpdir(), 'lp-power-cut-'));
  const common = ['--server', server.url, '--mqtt', server.mqttUrl, '--data-dir', dataDir];
  const first = startAgent(['--enroll-token-file', await enrollTokenFile(server, station, dataDir), ...common], 'subscribed');
  t.teardown(() => killGroup(first.child));
  await deadline(first.ready, 60_000, 'the first agent to subscribe');

  const occurrenceId = await scheduleItem(server, media.id, station, Date.now() + 2000);

  const journal = await untilJournal(dataDir, (j) => j.playedMs >= 2000);
  killGroup(first.child);
  await once(first.child, 'exit');
  t.ok(journal.playedMs >= 2000, `killed with ${journal.playedMs} ms journalled`);
  const cut = await server.db.occurrence.findUniqueOrThrow({ where: { id: occurrenceId } });
  t.equal(cut.status, 'playing', 'the server saw it start and nothing more');

  const done = new Promise<void>((resolve) =>
    server.reports.events.on('handled', (outcome: string, kind: string) => {
      if (outcome === 'stored' && kind === 'playback.completed') resolve();
    }),
  );
  const second = startAgent(common, 'subscribed');
  t.teardown(() => killGroup(second.child));
  await deadline(second.ready, 60_000, 'the restarted agent to subscribe');
  await deadline(done, 60_000, 'the interrupted end proof to be stored');

  const occurrence = await server.db.occurrence.findUniqueOrThrow({ where: { id: occurrenceId }, include: { reports: true } });
  t.equal(occurrence.status, 'partial', 'partial, not aired and not missed');
  const completed = occurrence.reports.find((r) => r.kind === 'completed');
  const body = (JSON.parse(completed?.raw ?? '{}') as { body: { reason?: string; playedMs: number; expectedMs: number } }).body;
  t.equal(body.reason, 'INTERRUPTED');
  t.ok(body.playedMs >= journal.playedMs && body.playedMs < body.expectedMs, `played at least ${body.playedMs} of ${body.expectedMs} ms`);
  t.same(
    occurrence.reports.map((r) => r.kind).sort(),
    ['completed', 'started'],
    'started once (never aired again after the restart), ended once',
  );

  // A clean stop while nothing plays leaves no journal: the next start reports nothing new.
  process.kill(second.child.pid as number, 'SIGTERM');
  const [code] = await once(second.child, 'exit');
  t.equal(code, 0, 'stops cleanly on SIGTERM');
});
