// [P-3.5], [P-5.8] Remote commands: every command gets exactly one reply, an error reply included,
// and a command that fails verification is never acted on.
import type { Command, Reply } from '#protocol';

/** What the agent exposes to command handlers. */
export interface CommandTarget {
  resync(): Promise<{ manifestVersion: number | null }>;
  stopCurrent(): Promise<{ stopped: string | null }>;
  setVolume(zone: string | undefined, level: number): { volume: Record<string, number> };
  selfTest(): Promise<{ playedMs: number; rmsDbfs: number; peakDbfs: number } | 'BUSY' | 'DEVICE_FAULT'>;
  playNow(cmd: Extract<Command, { action: 'play-now' }>): Promise<{ startedAt: string } | 'BUSY' | 'FILE_MISSING'>;
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
    case 'stop':
      return { reply: ok(cmd, await target.stopCurrent()) };
    case 'volume':
      return { reply: ok(cmd, target.setVolume(cmd.zone, cmd.level)) };
    case 'self-test': {
      const r = await target.selfTest();
      if (r === 'BUSY') return { reply: errorReply(cmd.txn, cmd.action, 'BUSY', 'something is playing; stop it first') };
      if (r === 'DEVICE_FAULT') return { reply: errorReply(cmd.txn, cmd.action, 'DEVICE_FAULT', 'the test tone did not play') };
      return { reply: ok(cmd, r) };
    }
    case 'play-now': {
      const r = await target.playNow(cmd);
      if (r === 'BUSY') return { reply: errorReply(cmd.txn, cmd.action, 'BUSY', 'something of equal or higher priority is playing') };
      if (r === 'FILE_MISSING')
        return { reply: errorReply(cmd.txn, cmd.action, 'FILE_MISSING', 'the audio could not be fetched or did not match its hash') };
      return { reply: ok(cmd, r) };
    }
    case 'reboot':
      if (!target.reboot) return { reply: errorReply(cmd.txn, cmd.action, 'NOT_SUPPORTED', 'this device has no reboot hook') };
      // [P-3.5] reply first, then restart
      return { reply: ok(cmd), after: target.reboot };
    default:
      // emergency.* and live.* arrive with the playout engine (issue #6).
      return { reply: errorReply(cmd.txn, cmd.action, 'NOT_SUPPORTED', `${cmd.action} is not supported by this agent version`) };
  }
}

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
