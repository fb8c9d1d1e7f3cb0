// [P-8.3] The live playout buffer: order restored, duplicates and past frames dropped, holes concealed, stale
// frames dropped, the delay held adapted to the measured jitter, and the stream's end found.
import t from 'tap';
import type { LiveFrame } from '#protocol';
import { DEFAULT_JITTER, JitterBuffer, type Turn } from '../../edge-agent/jitter.ts';

const FRAME = 20;
const frame = (seq: number, last = false): LiveFrame => ({
  streamId: 'ab'.repeat(16),
  seq,
  timestampMs: 1_000_000 + seq * FRAME,
  last,
  payload: Buffer.from([seq & 0xff]),
});
const buffer = () => new JitterBuffer({ ...DEFAULT_JITTER, frameMs: FRAME });
/** What the player got, in order: the seq of each frame, or "~seq" for a concealed one. */
const seen = (turns: Turn[]) => turns.filter((x) => x.kind !== 'wait').map((x) => (x.kind === 'frame' ? `${x.seq}` : `~${x.seq}`));

t.test('a steady link: playing starts once the floor is buffered, frames come out in order, the last ends it', async (t) => {
  const b = buffer();
  const turns: Turn[] = [];
  for (let seq = 0; seq < 10; seq++) {
    const at = 1_000_000 + seq * FRAME + 5;
    b.push(frame(seq, seq === 9), at);
    turns.push(b.take(at));
  }
  for (let k = 0; k < 5 && !b.ended; k++) turns.push(b.take(1_000_200 + k * FRAME));
  t.equal(turns[0]?.kind, 'wait', 'one frame is less than the 40 ms floor: it waits');
  t.same(seen(turns), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  t.ok(b.ended);
  t.equal(b.targetMs, 40, 'no jitter: the floor');
  t.same(b.counts, { played: 10, concealed: 0, dropped: 0, skipped: 0 });
  t.equal(b.spanMs, 200);
});

t.test('reordered and duplicated frames: order restored, the copy dropped, a frame past its turn dropped, a hole concealed', async (t) => {
  const b = buffer();
  const at = 1_000_000;
  for (const seq of [1, 0, 1, 3]) b.push(frame(seq), at);
  const turns = [b.take(at), b.take(at + 20), b.take(at + 40), b.take(at + 60)];
  t.same(seen(turns), ['0', '1', '~2', '3'], 'seq 2 never came: concealed in its turn');
  t.notOk(b.push(frame(2), at + 70), 'seq 2 arriving after its turn is dropped');
  t.same(b.counts, { played: 3, concealed: 1, dropped: 2, skipped: 0 });
});

t.test('a frame more than 2 s older than the newest received is dropped', async (t) => {
  const b = buffer();
  b.push(frame(200), 1_000_000);
  t.notOk(b.push(frame(50), 1_000_000), '150 frames = 3 s older');
  t.ok(b.push(frame(150), 1_000_000), '1 s older is kept');
});

t.test('jitter raises the delay held (never above the ceiling); on a calm link it comes back down and the surplus shows', async (t) => {
  const b = buffer();
  let seq = 0;
  // Arrivals ±60 ms around their nominal instants.
  for (; seq < 200; seq++) b.push(frame(seq), 1_000_000 + seq * FRAME + (seq % 2 === 0 ? 0 : 120)) && b.take(1_000_000 + seq * FRAME);
  t.ok(b.targetMs >= 200 && b.targetMs <= 1000, `held ${b.targetMs} ms under ±60 ms of jitter`);
  // Calm again: the estimate decays; the buffer never discards speech itself, it says how deep it runs.
  for (; seq < 600; seq++) {
    b.push(frame(seq), 1_000_000 + seq * FRAME);
    b.take(1_000_000 + seq * FRAME);
  }
  t.ok(b.targetMs <= 60, `back to ${b.targetMs} ms`);
  t.ok(b.excessMs >= 2 * FRAME, `${b.excessMs} ms more than it aims to hold: the caller skips silence`);
  t.equal(b.counts.played + b.counts.concealed, 600 - b.depthMs / FRAME, 'every turn took a frame or concealed one');
  b.take(0);
  b.skipped();
  t.equal(b.counts.skipped, 1);
});

t.test('nothing arrives: the player waits; a stream of one frame with `last` plays at once', async (t) => {
  const b = buffer();
  t.equal(b.take(0).kind, 'wait');
  b.push(frame(0, true), 1_000_000);
  t.same(seen([b.take(1_000_000)]), ['0']);
  t.ok(b.ended);
});

t.test('playing starts 1 s after the first frame at the latest, even below the target', async (t) => {
  const b = new JitterBuffer({ ...DEFAULT_JITTER, minMs: 400, frameMs: FRAME });
  b.push(frame(0), 1_000_000);
  t.equal(b.take(1_000_500).kind, 'wait');
  t.equal(b.take(1_001_000).kind, 'frame');
});
