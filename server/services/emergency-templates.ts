// Prepared alerts ([P-5.5]): approved audio kept on every gateway below their unit in advance (the
// manifest's `prefetch`), so an alert made from one airs without a download; an optional "end of alert"
// airs when such an alert is cancelled.
import type { Db } from '../db/client.ts';
import type { DispatchService } from './dispatch-service.ts';
import { conflict, forbidden, notFound } from './errors.ts';
import { LibraryService } from './library-service.ts';
import type { UnitService } from './unit-service.ts';
import type { AuthUser } from './user-service.ts';

export interface TemplateInput {
  code: string;
  title: string;
  text: string;
  unit?: string;
  mediaId: string;
  endMediaId?: string;
}

export class EmergencyTemplates {
  constructor(private readonly deps: { db: Db; units: UnitService; dispatch: DispatchService; now: () => Date }) {}

  /** The templates the user's stations keep: their units' and the province-wide ones. */
  async list(user: AuthUser) {
    const tree = await this.deps.units.tree();
    const rows = await this.deps.db.emergencyTemplate.findMany({
      include: {
        media: { select: { id: true, title: true, sha256: true, durationMs: true } },
        endMedia: { select: { id: true, title: true } },
      },
      orderBy: { code: 'asc' },
    });
    const mine = user.unitId ? new Set([...tree.chain(user.unitId), ...tree.subtree(user.unitId)].map((u) => u.id)) : null;
    return rows
      .filter((t) => !mine || !t.unitId || mine.has(t.unitId))
      .map((t) => ({ ...t, unit: t.unitId ? (tree.byId.get(t.unitId)?.code ?? null) : null }));
  }

  async create(user: AuthUser, input: TemplateInput) {
    const { db, units, dispatch, now } = this.deps;
    const tree = await units.tree();
    const unit = input.unit ? tree.byCode.get(input.unit) : undefined;
    if (input.unit && !unit) throw notFound('UNKNOWN_UNIT', `unknown unit ${input.unit}`);
    if (unit) tree.assertCurrent(unit);
    if (user.unitId && (!unit || !tree.subtree(user.unitId).some((u) => u.id === unit.id)))
      throw forbidden('OUT_OF_SCOPE', 'a template belongs to one of your units');
    for (const id of [input.mediaId, input.endMediaId].filter((x): x is string => Boolean(x))) {
      const media = await db.media.findUnique({ where: { id } });
      if (!media) throw notFound('UNKNOWN_MEDIA', `unknown media ${id}`);
      LibraryService.assertSchedulable(media, now());
    }
    if (await db.emergencyTemplate.findUnique({ where: { code: input.code } }))
      throw conflict('TEMPLATE_EXISTS', `a template ${input.code} exists`);
    const row = await db.emergencyTemplate.create({
      data: {
        code: input.code,
        title: input.title,
        text: input.text,
        unitId: unit?.id ?? null,
        mediaId: input.mediaId,
        endMediaId: input.endMediaId ?? null,
      },
    });
    // Every gateway below the unit fetches it now.
    const stations = unit ? await units.stationsBelow([unit.id]) : await db.station.findMany({ select: { id: true } });
    await dispatch.dispatch(stations.map((s) => s.id));
    return row;
  }
}
