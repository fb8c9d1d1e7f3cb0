// [P-3.5], [P-5.8] Remote commands: every command gets exactly one reply, an error reply included,
// and a command that fails verification is never acted on.
import type { Command, Reply } from '#protocol';

/** What the agent exposes to command handlers. */
export interface CommandTarget {
  resync(): Promise<{ manifestVersion: number | null }>;
  /** Stops what plays; with a zone of several, silences only that zone. */
  stopCurrent(zone?: string): Promise<{ stopped: string | null; zone?: string } | 'UNKNOWN_ZONE'>;
  setVolume(zone: string | undefined, level: number): { volume: Record<string, number> } | 'UNKNOWN_ZONE';
  selfTest(): Promise<{ playedMs: number; rmsDbfs: number; peakDbfs: number } | 'BUSY' | 'DEVICE_FAULT'>;
  emergency(
    cmd: Extract<Command, { action: 'emergency.start' }>,
  ): Promise<{ startedAt: string; repeatUntil?: string } | 'FILE_MISSING' | 'EXPIRED'>;
  cancelEmergency(occurrenceId: string): Promise<{ cancelled: string | null }>;
  playNow(cmd: Extract<Command, { action: 'play-now' }>): Promise<{ startedAt: string } | 'BUSY' | 'FILE_MISSING'>;
  liveStart(cmd: Extract<Command, { action: 'live.start' }>): Promise<{ streamId: string; bufferMs: number } | 'BUSY' | 'NOT_SUPPORTED'>;
  liveStop(streamId: string): { stopped: string | null };
  reboot?: () => void;
}

const ok = (cmd: Command, result?: Record<string, unknown>): Reply => ({
  txn: cmd.txn,
  action: cmd.action,
  ok: true,
  ...(result ? { result } : {}),
});
export const errorReply = (txn: string | null, action: string | null, code: string, message: string): Reply => ({
  txn,
  action,
  ok: false,
  error: { code, message },
});

export async function runCommand(cmd: Command, target: CommandTarget): Promise<{ reply: Reply; after?: () => void }> {
  switch (cmd.action) {
    case 'sync-now':
      return { reply: ok(cmd, await target.resync()) };
    case 'stop': {
      const r = await target.stopCurrent(cmd.zone);
      return { reply: r === 'UNKNOWN_ZONE' ? unknownZone(cmd, cmd.zone) : ok(cmd, r) };
    }
    case 'volume': {
      const r = target.setVolume(cmd.zone, cmd.level);
      return { reply: r === 'UNKNOWN_ZONE' ? unknownZone(cmd, cmd.zone) : ok(cmd, r) };
    }
    case 'emergency.start': {
      const r = await target.emergency(cmd);
      if (r === 'FILE_MISSING') return { reply: fileMissing(cmd) };
      if (r === 'EXPIRED') return { reply: errorReply(cmd.txn, cmd.action, 'EXPIRED', 'repeatUntil has passed') };
      return { reply: ok(cmd, r) };
    }
    case 'emergency.cancel':
      return { reply: ok(cmd, await target.cancelEmergency(cmd.occurrenceId)) };
    case 'self-test': {
      const r = await target.selfTest();
      if (r === 'BUSY') return { reply: errorReply(cmd.txn, cmd.action, 'BUSY', 'something is playing; stop it first') };
      if (r === 'DEVICE_FAULT') return { reply: errorReply(cmd.txn, cmd.action, 'DEVICE_FAULT', 'the test tone did not play') };
      return { reply: ok(cmd, r) };
    }
    case 'play-now': {
      const r = await target.playNow(cmd);
      if (r === 'BUSY') return { reply: errorReply(cmd.txn, cmd.action, 'BUSY', 'something of equal or higher priority is playing') };
      if (r === 'FILE_MISSING') return { reply: fileMissing(cmd) };
      return { reply: ok(cmd, r) };
    }
    case 'reboot':
      if (!target.reboot) return { reply: errorReply(cmd.txn, cmd.action, 'NOT_SUPPORTED', 'this device has no reboot hook') };
      // [P-3.5] reply first, then restart
      return { reply: ok(cmd), after: target.reboot };
    case 'live.start': {
      const r = await target.liveStart(cmd);
      if (r === 'BUSY') return { reply: errorReply(cmd.txn, cmd.action, 'BUSY', 'an emergency or another live stream is on the air') };
      if (r === 'NOT_SUPPORTED') return { reply: errorReply(cmd.txn, cmd.action, 'NOT_SUPPORTED', 'this gateway cannot decode Opus') };
      return { reply: ok(cmd, r) };
    }
    case 'live.stop':
      return { reply: ok(cmd, target.liveStop(cmd.streamId)) };
    default:
      return { reply: errorReply(null, null, 'UNKNOWN_ACTION', 'unknown action') };
  }
}

const fileMissing = (cmd: Command): Reply =>
  errorReply(cmd.txn, cmd.action, 'FILE_MISSING', 'the audio could not be fetched or did not match its hash');
const unknownZone = (cmd: Command, zone: string | undefined): Reply =>
  errorReply(cmd.txn, cmd.action, 'UNKNOWN_ZONE', `this gateway has no zone "${zone ?? ''}"`);

/** Best effort to find txn and action in a command that failed verification, for the error reply. */
export function peekTxn(payload: Buffer): { txn: string | null; action: string | null } {
  try {
    const body = (JSON.parse(payload.toString('utf8')) as { body?: { txn?: unknown; action?: unknown } }).body;
    const txn = typeof body?.txn === 'string' && body.txn.length <= 64 ? body.txn : null;
    const action = typeof body?.action === 'string' && body.action.length <= 32 ? body.action : null;
    return { txn, action };
  } catch {
    return { txn: null, action: null };
  }
}
