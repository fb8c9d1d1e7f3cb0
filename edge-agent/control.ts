// Commands from the server ([P-3.5], [P-3.6]): verified, run against the agent's rooms, and answered
// with exactly one signed reply (an error reply for one that fails verification, never silence). They come
// on the device's own `cmd` topic and on the `cmd` topic of each unit it belongs to ([P-2.3], [P-2.5]):
// a group carries what concerns every station below a unit at once, emergencies and live audio ([P-5.5]).
import {
  COMMAND_ACTIONS,
  type CommandAction,
  commandTopic,
  groupAiringId,
  groupCommandTopic,
  groupPlanTopic,
  liveTopic,
  type ManifestEntry,
  manifestTopic,
  type Reply,
  replyTopic,
  seal,
} from '#protocol';
import type { OnAir } from './airing.ts';
import { type CommandTarget, errorReply, peekTxn, runCommand } from './commands.ts';
import type { AgentContext } from './context.ts';
import type { LiveRoom } from './live.ts';
import type { Playout } from './playout.ts';
import { audioAvailable } from './sync.ts';
import type { ServerTrust } from './trust.ts';

const REPLY_TTL_MS = 3600_000;
/** What a unit's group topic may carry; any other action there is refused (NOT_SUPPORTED) and not run. */
const GROUP_ACTIONS: ReadonlySet<CommandAction> = new Set(['emergency.start', 'emergency.cancel', 'live.start', 'live.stop']);
/** The actions this device knows ([P-3.5]); a signed command naming another is answered UNKNOWN_ACTION ([P-9.2]). */
const ACTIONS: ReadonlySet<string> = new Set(COMMAND_ACTIONS);

export class Commands {
  constructor(
    private readonly ctx: AgentContext,
    private readonly trust: ServerTrust,
    private readonly rooms: { onAir: OnAir; playout: Playout; live: LiveRoom },
  ) {}

  /** The topics this room listens on: the device's own commands, and its units' group commands and live frames. */
  get topics(): string[] {
    return [commandTopic(this.ctx.device), ...this.groups().flatMap(groupTopics)];
  }

  /** The units whose group topics this gateway follows, nearest first (enrollment's, then each manifest's). */
  private groups(): string[] {
    return this.ctx.state.enrollment?.groups ?? [];
  }

  /**
   * [P-2.5] The station's units as the latest manifest names them (a merge moved it): the group topics
   * follow at once, without a new enrollment or a reconnect.
   */
  async followGroups(groups: string[]): Promise<void> {
    const { ctx } = this;
    const enrollment = ctx.state.enrollment;
    const before = this.groups();
    if (!enrollment || (before.length === groups.length && before.every((g, i) => g === groups[i]))) return;
    enrollment.groups = groups;
    ctx.save();
    const gone = before.filter((g) => !groups.includes(g)).flatMap(groupTopics);
    const added = groups.filter((g) => !before.includes(g)).flatMap(groupTopics);
    ctx.deps.log.info('group topics changed', { groups });
    // Offline: the next connect subscribes with the new list.
    if (ctx.mqtt?.connected) {
      if (gone.length) await ctx.mqtt.unsubscribeAsync(gone);
      if (added.length) await ctx.mqtt.subscribeAsync(added, { qos: 1 });
    }
    ctx.emit({ type: 'groups', groups });
  }

  /** A command from the device's own topic, or (`group`) from a unit's group topic. */
  async onCommand(payload: Buffer, group?: string): Promise<void> {
    const { ctx } = this;
    const opened = this.trust.open(payload, 'command');
    if (!opened.ok) {
      // [P-3.6] txn is read only from a message of acceptable size
      const { txn, action } = opened.code === 'TOO_LARGE' ? { txn: null, action: null } : peekTxn(payload);
      // Authentic but of an action this device does not know: a newer server's ([P-9.2]), not a malformed one.
      const unknown = opened.code === 'INVALID_BODY' && action !== null && !ACTIONS.has(action);
      const [code, message] = unknown ? ['UNKNOWN_ACTION', `unknown action ${action}`] : [opened.code, opened.message];
      ctx.deps.log.warn('command rejected', { code, message });
      ctx.emit({ type: 'rejected', code });
      return this.reply(errorReply(txn, action, code, message));
    }
    this.trust.remember(opened.envelope);
    ctx.save();
    if (group && !GROUP_ACTIONS.has(opened.body.action)) {
      const message = `${opened.body.action} is not sent to a group (unit ${group}); only emergency.* and live.* are`;
      return this.reply(errorReply(opened.body.txn, opened.body.action, 'NOT_SUPPORTED', message));
    }
    // [P-5.5] an emergency sent to a group airs here under this station's own id
    const cmd =
      group && (opened.body.action === 'emergency.start' || opened.body.action === 'emergency.cancel')
        ? { ...opened.body, occurrenceId: groupAiringId(opened.body.occurrenceId, ctx.station) }
        : opened.body;
    let outcome: Awaited<ReturnType<typeof runCommand>>;
    try {
      outcome = await runCommand(cmd, this.target(opened.envelope.kid));
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

  /** What command handlers may do to this agent; `kid` signed the command (a live stream's frames must be signed by it). */
  private target(kid: string): CommandTarget {
    const { ctx } = this;
    const { onAir, playout, live } = this.rooms;
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
      liveStart: (cmd) => live.start(cmd, kid),
      liveStop: (streamId) => live.stop(streamId),
      reboot: ctx.deps.reboot,
    };
  }
}

/** A unit's group channels a gateway follows: its commands and its live frames ([P-2.5]). */
/** A unit's group topics: its commands, live frames and group plan ([P-3.10]). */
const groupTopics = (unit: string): string[] => [groupCommandTopic(unit), liveTopic(unit), groupPlanTopic(unit)];
