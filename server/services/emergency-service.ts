import { closesAt } from '../compliance/as-run.ts';
import { chunked, type Db } from '../db/client.ts';
import { dialectOf } from '../db/dialect.ts';
import { hanoiDayNumber } from '../scheduling/recurrence.ts';
import type { CommandService } from './command-service.ts';
import type { DispatchService } from './dispatch-service.ts';
import { type Area, type ResolvedArea, scopedArea, scopeOf } from './emergency-area.ts';
import {
  type AlertStatus,
  airingKey,
  alertContent,
  alertValidUntil,
  commandRepeat,
  type EmergencyInput,
  type EmergencyPatch,
  repeatOf,
} from './emergency-content.ts';
import { type EmergencyRow, EmergencyTracking } from './emergency-tracking.ts';
import { conflict, forbidden, notFound } from './errors.ts';
import { LibraryService } from './library-service.ts';
import type { TtsService } from './tts-service.ts';
import type { UnitService } from './unit-service.ts';
import type { AuthUser } from './user-service.ts';

/** How long after an alert's commands its plans go out. */
const PLANS_AFTER_MS = 1500;
const DEFAULT_CONFIRM_MINUTES = 10;
/** The short "end of alert" of a template airs within this window. */
const END_VALID_MS = 15 * 60_000;

export interface EmergencyDeps {
  db: Db;
  units: UnitService;
  commands: CommandService;
  dispatch: DispatchService;
  tts?: TtsService;
  /** Where a stored item's audio lies (for an exercise's spoken announcement before it). */
  blobFile?: (sha256: string) => string;
  now: () => Date;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

type Row = EmergencyRow;

export class EmergencyService {
  /** Group command txns of airings still collecting answers: the alert they belong to. */
  private readonly txns = new Map<string, string>();

  private readonly tracking: EmergencyTracking;

  constructor(private readonly deps: EmergencyDeps) {
    this.tracking = new EmergencyTracking({ db: deps.db, log: deps.log });
    deps.commands.events.on('group-reply', (txn: string, device: string, reply) => {
      const id = this.txns.get(txn);
      if (id) this.tracking.answered(id, device, reply, deps.now());
    });
  }

  /** The stations an area reaches, how it would travel, and whether it needs a second person: shown before the press. */
  async preview(user: AuthUser, area: Area) {
    const resolved = await this.area(user, area);
    return {
      stations: resolved.stations.map(({ code, name, latitude, longitude }) => ({ code, name, latitude, longitude })),
      groups: resolved.groups,
      singles: resolved.singles.map((s) => s.code),
      communes: resolved.communes,
      confirmationNeeded: resolved.communes > 1,
    };
  }

  /**
   * Raises an alert: on the air at once, or pending a second person's confirmation (actual, beyond one
   * commune). A CAP alert whose signature a trusted sender made counts as confirmed by that sender.
   */
  async create(user: AuthUser, input: EmergencyInput, source: { cap?: { sender: string; identifier: string; signed: boolean } } = {}) {
    const { db, now } = this.deps;
    const at = now();
    const resolved = await this.area(user, input.area);
    const validUntil = alertValidUntil(input.validUntil, at);
    const { media, templateId, text } = await alertContent(this.deps, user, input.content, input.status, input.headline);
    const repeat = repeatOf(input.repeat, validUntil);
    const pending = input.status === 'actual' && resolved.communes > 1 && !source.cap?.signed;
    const minutes = resolved.unitId
      ? ((await this.deps.units.tree()).effectivePolicy(resolved.unitId).policy.emergencyConfirmMinutes ?? DEFAULT_CONFIRM_MINUTES)
      : DEFAULT_CONFIRM_MINUTES;
    const row = await db.emergency.create({
      data: {
        status: input.status,
        state: pending ? 'pending' : 'active',
        headline: input.headline,
        text,
        area: JSON.stringify(input.area),
        stationCodes: JSON.stringify(resolved.stations.map((s) => s.code)),
        groups: JSON.stringify(resolved.groups),
        mediaId: media.id,
        templateId,
        repeatCount: repeat.repeatCount ?? null,
        repeatIntervalS: input.repeat?.intervalS ?? null,
        repeatUntil: repeat.repeatUntil ? new Date(repeat.repeatUntil) : null,
        validUntil,
        airing: airingKey(),
        unitId: resolved.unitId,
        createdById: user.id,
        createdAt: at,
        confirmBy: pending ? new Date(at.getTime() + minutes * 60_000) : null,
        ...(source.cap?.signed ? { confirmedById: `cap:${source.cap.sender}`, confirmedAt: at } : {}),
        source: source.cap ? 'cap' : 'api',
        capSender: source.cap?.sender ?? null,
        capIdentifier: source.cap?.identifier ?? null,
      },
    });
    if (!pending) await this.launch(row, resolved, user.id);
    return this.get(user, row.id);
  }

  /** A second person confirms a pending actual alert within its time limit; it airs then. */
  async confirm(user: AuthUser, id: string) {
    const row = await this.row(user, id);
    if (row.state === 'lapsed')
      throw conflict('CONFIRMATION_LAPSED', `alert ${id} was not confirmed by ${row.confirmBy?.toISOString()}; raise it again`);
    if (row.state !== 'pending') throw conflict('NOT_PENDING', `alert ${id} is ${row.state}`);
    if (row.createdById === user.id) throw forbidden('SAME_PERSON', 'the person who raised an alert cannot confirm it');
    const at = this.deps.now();
    const { count } = await this.deps.db.emergency.updateMany({
      where: { id, state: 'pending' },
      data: { state: 'active', confirmedById: user.id, confirmedAt: at },
    });
    if (!count) throw conflict('NOT_PENDING', `alert ${id} is no longer pending`);
    await this.launch(
      await this.deps.db.emergency.findUniqueOrThrow({ where: { id } }),
      await this.area(user, JSON.parse(row.area)),
      user.id,
    );
    return this.get(user, id);
  }

  /** A correction: new words, audio, repeat or validity. An active alert airs again at once in its corrected form. */
  async update(user: AuthUser, id: string, patch: EmergencyPatch) {
    const { db } = this.deps;
    const row = await this.row(user, id);
    if (row.state !== 'active' && row.state !== 'pending') throw conflict('NOT_ACTIVE', `alert ${id} is ${row.state}`);
    const at = this.deps.now();
    const validUntil = patch.validUntil ? alertValidUntil(patch.validUntil, at) : row.validUntil;
    const content = patch.content
      ? await alertContent(this.deps, user, patch.content, row.status as AlertStatus, patch.headline ?? row.headline)
      : undefined;
    const repeat = patch.repeat ? repeatOf(patch.repeat, validUntil) : undefined;
    if (row.state === 'active') await this.withdraw(row, 'correction');
    const updated = await db.emergency.update({
      where: { id },
      data: {
        ...(patch.headline ? { headline: patch.headline } : {}),
        ...(content ? { mediaId: content.media.id, templateId: content.templateId, text: content.text } : {}),
        ...(repeat
          ? {
              repeatCount: repeat.repeatCount ?? null,
              repeatIntervalS: patch.repeat?.intervalS ?? null,
              repeatUntil: repeat.repeatUntil ? new Date(repeat.repeatUntil) : null,
            }
          : {}),
        validUntil,
        version: { increment: 1 },
        airing: row.state === 'active' ? airingKey() : row.airing,
        updatedById: user.id,
        updatedAt: at,
      },
    });
    if (row.state === 'active') await this.launch(updated, await this.area(user, JSON.parse(row.area)), user.id);
    return this.get(user, id);
  }

  /** Ends an alert everywhere now; a template with an "end of alert" airs it once. */
  async cancel(user: AuthUser, id: string) {
    const { db } = this.deps;
    const row = await this.row(user, id);
    if (row.state !== 'active' && row.state !== 'pending') throw conflict('NOT_ACTIVE', `alert ${id} is ${row.state}`);
    const at = this.deps.now();
    await db.emergency.update({ where: { id }, data: { state: 'cancelled', cancelledById: user.id, cancelledAt: at } });
    if (row.state === 'active') {
      await this.withdraw(row, 'cancel');
      const template = row.templateId ? await db.emergencyTemplate.findUnique({ where: { id: row.templateId } }) : null;
      if (template?.endMediaId) {
        const end = await db.media.findUniqueOrThrow({ where: { id: template.endMediaId } });
        const resolved = await this.area(user, JSON.parse(row.area));
        await this.launch(
          {
            ...row,
            mediaId: end.id,
            airing: airingKey(),
            repeatCount: 1,
            repeatIntervalS: null,
            repeatUntil: null,
            validUntil: new Date(at.getTime() + END_VALID_MS),
          },
          resolved,
          user.id,
        );
      }
    }
    return this.get(user, id);
  }

  /** The broadcast policy of the narrowest unit holding the area (none for an area across provinces). */
  async areaPolicy(user: AuthUser, area: Area) {
    const { unitId } = await this.area(user, area);
    return unitId ? (await this.deps.units.tree()).effectivePolicy(unitId).policy : {};
  }

  /** The alert a CAP message refers to (by its sender and identifier), in the user's scope. */
  async byCapReference(user: AuthUser, refs: { sender: string; identifier: string }[]) {
    for (const r of refs) {
      const row = await this.deps.db.emergency.findFirst({ where: { capSender: r.sender, capIdentifier: r.identifier } });
      if (row) return (await this.row(user, row.id)).id;
    }
    throw notFound('UNKNOWN_EMERGENCY', `no alert matches the CAP references ${refs.map((r) => `${r.sender},${r.identifier}`).join(' ')}`);
  }

  /** Alerts in the user's scope, newest first. */
  async list(user: AuthUser, limit = 50) {
    const subtree = await this.subtree(user);
    const rows = await this.deps.db.emergency.findMany({
      where: subtree ? { unitId: { in: [...subtree] } } : {},
      orderBy: { createdAt: 'desc' },
      take: limit,
    });
    return Promise.all(rows.map(async (r) => this.tracking.summary(await this.settle(r))));
  }

  /** One alert with its coverage now: counts by state and every station not reached, with why. */
  async get(user: AuthUser, id: string) {
    const row = await this.row(user, id);
    const stations = await this.tracking.stationStates(row);
    return { ...(await this.tracking.summary(row, stations)), stations };
  }

  /** A pending alert past its confirmation time lapses; an active one past its validity has ended. */
  private async settle(row: Row): Promise<Row> {
    const at = this.deps.now();
    const state =
      row.state === 'pending' && row.confirmBy && at > row.confirmBy
        ? 'lapsed'
        : row.state === 'active' && at > row.validUntil
          ? 'ended'
          : null;
    if (!state) return row;
    await this.deps.db.emergency.updateMany({ where: { id: row.id, state: row.state }, data: { state } });
    return { ...row, state };
  }

  /** Puts an airing on the air: its occurrences, one command per group topic (and per station left), the stations' plans. */
  private async launch(row: Row, area: ResolvedArea, userId: string): Promise<void> {
    const { db, commands, now, log } = this.deps;
    const at = now();
    const media = await db.media.findUniqueOrThrow({ where: { id: row.mediaId } });
    LibraryService.assertSchedulable(media, at);
    const drill = row.status !== 'actual';
    const schedule = await db.schedule.create({
      data: {
        mediaId: media.id,
        startsAt: at,
        stationCodes: JSON.stringify(area.stations.map((s) => s.code)),
        targets: row.area,
        conflict: 'preempt',
        startWindowMs: Math.max(0, row.validUntil.getTime() - at.getTime() - media.durationMs),
        priority: 'emergency',
        createdById: userId,
        emergencyId: row.id,
      },
    });
    const occurrences = area.stations.map((st) => ({
      id: `${row.airing}@${st.code}`,
      scheduleId: schedule.id,
      stationId: st.id,
      unitId: st.unitId,
      mediaId: media.id,
      startsAt: at,
      // Out of the day keys the compliance reports count by: an exercise or a test never counts as real.
      day: drill ? null : hanoiDayNumber(at),
      closesAt: closesAt({ startsAt: at, expectedMs: media.durationMs, startWindowMs: schedule.startWindowMs }),
      priority: 'emergency',
    }));
    // Led by a raw statement: Prisma would cache a batch led by a model query under a key as long as its lists
    // (one per area size, never evicted; dispatch-service.ts).
    await db.$transaction([
      db.$executeRawUnsafe(dialectOf(db).sql('DELETE FROM "EmergencyStation" WHERE "emergencyId" = ?'), row.id),
      ...chunked(occurrences).map((part) => db.occurrence.createMany({ data: part })),
      ...chunked(area.stations).map((part) =>
        db.emergencyStation.createMany({
          data: part.map((st) => ({ emergencyId: row.id, stationId: st.id, occurrenceId: `${row.airing}@${st.code}` })),
        }),
      ),
    ]);
    const repeat = commandRepeat(row);
    const ttlMs = Math.max(60_000, row.validUntil.getTime() - at.getTime());
    const ref = {
      sha256: media.sha256,
      path: `/blobs/${media.sha256}`,
      durationMs: media.durationMs,
      sizeBytes: media.sizeBytes,
      codec: media.codec,
    };
    const sent = await Promise.allSettled(
      area.groups.map((unit) =>
        commands.sendToGroup(unit, { action: 'emergency.start', occurrenceId: row.airing, media: ref, ...repeat }, { ttlMs }),
      ),
    );
    for (const s of sent) {
      if (s.status === 'fulfilled') this.track(s.value.txn, row.id);
      else log.warn({ alert: row.id, err: (s.reason as Error).message }, 'alert group command not sent');
    }
    for (const st of area.singles) {
      const occurrenceId = `${row.airing}@${st.code}`;
      void commands
        .send(st.code, { action: 'emergency.start', occurrenceId, media: ref, ...repeat }, undefined, { ttlMs })
        .then((reply) => this.tracking.record(row.id, st, reply.ok ? null : reply.error, now()))
        .catch((err: { code?: string; message: string }) => {
          if (err.code !== 'COMMAND_TIMEOUT')
            return this.tracking.record(row.id, st, { code: err.code ?? 'NOT_SENT', message: err.message }, now());
        });
    }
    log.info(
      { alert: row.id, airing: row.airing, stations: area.stations.length, groups: area.groups.length, singles: area.singles.length },
      'alert on the air',
    );
    // The plans follow once the command has had its moment (the gateways online answer within a second, and
    // signing thousands of manifests meanwhile would slow them), so a gateway that missed it (offline) airs it
    // when it returns.
    const ids = area.stations.map((s) => s.id);
    setTimeout(
      () => void this.deps.dispatch.dispatch(ids).catch((err: Error) => log.warn({ err: err.message }, 'alert plans not sent')),
      PLANS_AFTER_MS,
    ).unref();
  }

  /** Takes the current airing off: cancel commands, airings still to come cancelled, plans without it. */
  private async withdraw(row: Row, why: 'cancel' | 'correction'): Promise<void> {
    const { db, commands, log } = this.deps;
    const groups = JSON.parse(row.groups) as string[];
    const codes = JSON.parse(row.stationCodes) as string[];
    await db.occurrence.updateMany({
      where: { scheduleId: { in: await this.tracking.schedules(row.id) }, id: { startsWith: `${row.airing}@` }, status: 'scheduled' },
      data: { status: 'cancelled', asRun: 'skipped', discrepancy: 'cancelled' },
    });
    const grouped = new Set<string>();
    for (const unit of groups) {
      try {
        await commands.sendToGroup(unit, { action: 'emergency.cancel', occurrenceId: row.airing });
      } catch (err) {
        log.warn({ alert: row.id, unit, err: (err as Error).message }, 'alert cancel not sent');
      }
    }
    const tree = await this.deps.units.tree();
    const stations = await db.station.findMany({ where: { code: { in: codes } }, select: { id: true, code: true, unitId: true } });
    for (const st of stations) if (tree.groups(st.unitId).some((g) => groups.includes(g))) grouped.add(st.code);
    for (const st of stations)
      if (!grouped.has(st.code))
        void commands.send(st.code, { action: 'emergency.cancel', occurrenceId: `${row.airing}@${st.code}` }).catch(() => undefined);
    log.info({ alert: row.id, airing: row.airing, why }, 'alert airing withdrawn');
    void this.deps.dispatch
      .dispatch(stations.map((s) => s.id))
      .catch((err: Error) => log.warn({ err: err.message }, 'alert plans not sent'));
  }

  private track(txn: string, id: string): void {
    this.txns.set(txn, id);
    setTimeout(() => this.txns.delete(txn), 3600_000).unref();
  }

  /** The area, refused when any of it lies outside the user's units. */
  private async area(user: AuthUser, area: Area): Promise<ResolvedArea> {
    return scopedArea(this.deps.db, await this.deps.units.tree(), user, area);
  }

  private async subtree(user: AuthUser): Promise<Set<string> | null> {
    return scopeOf(await this.deps.units.tree(), user);
  }

  /** One alert the user may see; UNKNOWN_EMERGENCY otherwise (outside the scope too, so its existence does not leak). */
  private async row(user: AuthUser, id: string): Promise<Row> {
    const row = await this.deps.db.emergency.findUnique({ where: { id } });
    const subtree = await this.subtree(user);
    if (!row || (subtree && !subtree.has(row.unitId))) throw notFound('UNKNOWN_EMERGENCY', `unknown alert ${id}`);
    return this.settle(row);
  }
}
