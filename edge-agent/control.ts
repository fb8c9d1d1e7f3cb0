// Commands from the server ([P-3.5], [P-3.6]): verified, run against the agent's rooms, and answered
// with exactly one signed reply (an error reply for one that fails verification, never silence).
import { commandTopic, type ManifestEntry, manifestTopic, type Reply, replyTopic, seal } from '#protocol';
import type { OnAir } from './airing.ts';
import { type CommandTarget, errorReply, peekTxn, runCommand } from './commands.ts';
import type { AgentContext } from './context.ts';
import type { Playout } from './playout.ts';
import { audioAvailable } from './sync.ts';
import type { ServerTrust } from './trust.ts';

const REPLY_TTL_MS = 3600_000;

export class Commands {
  constructor(
    private readonly ctx: AgentContext,
    private readonly trust: ServerTrust,
    private readonly rooms: { onAir: OnAir; playout: Playout },
  ) {}

  /** The topics this room listens on. */
  get topics(): string[] {
    return [commandTopic(this.ctx.device)];
  }

  async onCommand(payload: Buffer): Promise<void> {
    const { ctx } = this;
    const opened = this.trust.open(payload, 'command');
    if (!opened.ok) {
      // [P-3.6] txn is read only from a message of acceptable size
      const { txn, action } = opened.code === 'TOO_LARGE' ? { txn: null, action: null } : peekTxn(payload);
      ctx.deps.log.warn('command rejected', { code: opened.code, message: opened.message });
      ctx.emit({ type: 'rejected', code: opened.code });
      return this.reply(errorReply(txn, action, opened.code, opened.message));
    }
    this.trust.remember(opened.envelope);
    ctx.save();
    let outcome: Awaited<ReturnType<typeof runCommand>>;
    try {
      outcome = await runCommand(opened.body, this.target);
    } catch (err) {
      outcome = { reply: errorReply(opened.body.txn, opened.body.action, 'DEVICE_FAULT', (err as Error).message) };
    }
    this.reply(outcome.reply);
    outcome.after?.();
  }

  private reply(reply: Reply): void {
    const { ctx } = this;
    const envelope = seal('reply', reply, ctx.signer, { now: new Date(ctx.deps.clock.now()), ttlMs: REPLY_TTL_MS });
    ctx.mqtt?.publish(replyTopic(ctx.device), JSON.stringify(envelope), { qos: 1 });
    ctx.emit({ type: 'replied', reply });
  }

  /** What command handlers may do to this agent. */
  private get target(): CommandTarget {
    const { ctx } = this;
    const { onAir, playout } = this.rooms;
    const ownZone = (zone: string | undefined) => zone === undefined || ctx.deps.player.zones.includes(zone);
    return {
      resync: async () => {
        // [P-3.1.2] unsubscribe and subscribe again: the broker then sends the retained full manifest
        await ctx.mqtt?.unsubscribeAsync(manifestTopic(ctx.device));
        await ctx.mqtt?.subscribeAsync(manifestTopic(ctx.device), { qos: 1 });
        return { manifestVersion: ctx.state.manifest?.version ?? null };
      },
      stopCurrent: async (zone) => (ownZone(zone) ? onAir.stop(zone) : 'UNKNOWN_ZONE'),
      setVolume: (zone, level) => {
        if (!ownZone(zone)) return 'UNKNOWN_ZONE';
        ctx.state.volume = { ...ctx.state.volume, [zone ?? '*']: level };
        ctx.save();
        onAir.followVolume();
        return { volume: ctx.state.volume };
      },
      selfTest: () => onAir.selfTest(),
      emergency: async (cmd) => ((await audioAvailable(ctx, cmd.media)) ? playout.emergency(cmd) : 'FILE_MISSING'),
      cancelEmergency: (occurrenceId) => playout.cancelEmergency(occurrenceId),
      playNow: async (cmd) => {
        if (onAir.current) return 'BUSY';
        if (!(await audioAvailable(ctx, cmd.media))) return 'FILE_MISSING';
        const entry: ManifestEntry = {
          occurrenceId: cmd.occurrenceId,
          startsAt: new Date(ctx.deps.clock.now()).toISOString(),
          priority: cmd.priority,
          media: cmd.media,
        };
        void onAir.play(entry, true);
        return { startedAt: entry.startsAt };
      },
      reboot: ctx.deps.reboot,
    };
  }
}
