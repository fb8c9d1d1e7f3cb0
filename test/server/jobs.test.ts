// The media job queue: asynchronous uploads with progress, and recovery after a crash.
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { startTestServer } from '../helpers/server.ts';

const asyncUpload = async (server: Awaited<ReturnType<typeof startTestServer>>, file: string) => {
  const form = new FormData();
  form.append('file', new Blob([await import('node:fs').then((fs) => fs.readFileSync(file))]), file.split('/').at(-1));
  const res = await fetch(`${server.url}/api/v1/media?async=true`, { method: 'POST', headers: server.auth, body: form });
  return { status: res.status, body: (await res.json()) as { id: string; status: string } };
};
const getJob = async (server: Awaited<ReturnType<typeof startTestServer>>, id: string) =>
  (await (await fetch(`${server.url}/api/v1/jobs/${id}`, { headers: server.auth })).json()) as Record<string, unknown>;

t.test('an asynchronous upload answers 202 with a job that ends with the item, progress reaching 1', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const r = await asyncUpload(server, makeTone(join(server.dataDir, 'a.wav'), { seconds: 20, amplitude: 0.1 }));
  t.equal(r.status, 202);
  t.match(r.body.status, /^(queued|running)$/);
  const seen: number[] = [];
  server.jobs.events.on('progress', (id: string, p: number) => id === r.body.id && seen.push(p));
  const early = (await getJob(server, r.body.id)).progress as number;
  await server.jobs.wait(r.body.id);
  const done = await getJob(server, r.body.id);
  t.match(done, { status: 'succeeded', progress: 1, attempts: 1, created: true, error: null });
  t.ok(early >= 0 && early < 1, `read while encoding: ${early}`);
  t.ok(seen.length >= 2, `${seen.length} progress steps reported`);
  t.same(
    seen,
    [...seen].sort((a, b) => a - b),
    'progress only moves forward',
  );
  t.ok(
    seen.every((p) => p >= 0 && p <= 1),
    'every step is a share between 0 and 1',
  );
  const item = await fetch(`${server.url}/api/v1/media/${done.mediaId}`, { headers: server.auth });
  t.equal(item.status, 200);
  t.same(readdirSync(join(server.dataDir, 'uploads')), [], 'the source is gone');
});

t.test('a refused file fails its job visibly with the code, leaving nothing', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const bogus = join(server.dataDir, 'bogus.mp3');
  writeFileSync(bogus, 'not audio'.repeat(100));
  const r = await asyncUpload(server, bogus);
  await server.jobs.wait(r.body.id);
  t.match(await getJob(server, r.body.id), { status: 'failed', error: { code: 'NOT_AUDIO' }, mediaId: null });
  t.same(readdirSync(join(server.dataDir, 'uploads')), []);
  t.match(await (await fetch(`${server.url}/api/v1/jobs/nope`, { headers: server.auth })).json(), { error: { code: 'UNKNOWN_JOB' } });
});

t.test('after a crash, interrupted jobs are retried, exhausted ones fail as INTERRUPTED, leftovers are removed', async (t) => {
  const first = await startTestServer();
  const dataDir = first.dataDir;
  await first.stop();
  // What a kill -9 mid-job leaves: a running job with its source, a half-written output, an orphan upload.
  const uploads = join(dataDir, 'uploads');
  mkdirSync(uploads, { recursive: true });
  const source = join(uploads, 'interrupted.upload');
  copyFileSync(makeTone(join(dataDir, 'src.wav'), { seconds: 2, frequency: 350 }), source);
  const exhausted = join(uploads, 'exhausted.upload');
  copyFileSync(source, exhausted);
  writeFileSync(join(uploads, 'orphan.upload'), 'x');
  writeFileSync(join(dataDir, 'tmp', 'half-written.ogg'), 'partial');
  const { openDatabase } = await import('../../server/db/client.ts');
  const db = await openDatabase(first.database);
  const meta = { fileName: 'x.wav', title: 'Bản tin bị gián đoạn' };
  const retry = await db.job.create({
    data: { kind: 'ingest', status: 'running', attempts: 1, input: JSON.stringify({ ...meta, source }) },
  });
  const dead = await db.job.create({
    data: { kind: 'ingest', status: 'running', attempts: 3, input: JSON.stringify({ ...meta, source: exhausted }) },
  });
  await db.$disconnect();

  const again = await startTestServer({ env: { LP_DATA_DIR: dataDir } });
  t.teardown(() => again.stop());
  // The retried job may already be encoding into tmp/, so look for the leftover itself.
  t.notOk(readdirSync(join(dataDir, 'tmp')).includes('half-written.ogg'), 'half-written output removed at start');
  await again.jobs.wait(retry.id);
  t.match(await getJob(again, retry.id), { status: 'succeeded', attempts: 2 });
  t.match(await getJob(again, dead.id), { status: 'failed', error: { code: 'INTERRUPTED' } });
  t.same(readdirSync(uploads), [], 'sources and orphans removed');
});
