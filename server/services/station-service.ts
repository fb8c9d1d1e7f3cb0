// Station metadata in bulk: coordinates (for the live map), address, speaker points, power, connectivity,
// installation date, from a CSV a district keeps in a spreadsheet. All rows are checked first; nothing is
// written when any is wrong.
import { z } from 'zod';
import { chunked, type Db } from '../db/client.ts';
import { badRequest, notFound } from './errors.ts';

const UNIT = { unit: { select: { code: true, name: true, type: true } } } as const;

/** A unit and everything below it, for trees up to four levels (province → district → commune → village). */
export const belowUnit = (code: string) => ({
  OR: [{ code }, { parent: { code } }, { parent: { parent: { code } } }, { parent: { parent: { parent: { code } } } }],
});

/** The occurrence statuses a list may filter on. */
export type OccurrenceFilter = {
  station?: string;
  schedule?: string;
  status?: string;
  from?: string;
  to?: string;
  limit: number;
  offset: number;
};

/** An empty cell leaves the field as it is (clearing one is a PATCH of that station). */
const blank = (v: unknown) => (v === '' || v === null ? undefined : v);
const num = (schema: z.ZodNumber) => z.preprocess(blank, z.coerce.number().pipe(schema).optional());

export const StationMetaRow = z
  .object({
    code: z.string().trim().min(1).max(64),
    latitude: num(z.number().min(-90).max(90)),
    longitude: num(z.number().min(-180).max(180)),
    address: z.preprocess(blank, z.string().max(300).optional()),
    speakerPoints: num(z.number().int().min(0).max(100_000)),
    powerW: num(z.number().int().min(0).max(1_000_000)),
    connectivity: z.preprocess(blank, z.enum(['wired', '4g', 'wifi']).optional()),
    installedAt: z.preprocess(blank, z.iso.date().optional()),
  })
  .refine((r) => (r.latitude === undefined) === (r.longitude === undefined), {
    message: 'latitude and longitude go together',
    path: ['latitude'],
  });
export type StationMetaRow = z.infer<typeof StationMetaRow>;

export const STATION_META_COLUMNS = ['code', 'latitude', 'longitude', 'address', 'speakerPoints', 'powerW', 'connectivity', 'installedAt'];

export interface ImportError {
  /** 1-based data row (the header is row 0). */
  row: number;
  code: string | null;
  message: string;
}

export class StationService {
  constructor(private readonly deps: { db: Db }) {}

  /** Stations within `scope` (a unit filter), optionally below one unit, by code. */
  async list(q: { unit?: string; limit: number; offset: number }, scope: object) {
    const { db } = this.deps;
    const where = { ...(q.unit ? { unit: belowUnit(q.unit) } : {}), ...scope };
    const [total, rows] = await Promise.all([
      db.station.count({ where }),
      db.station.findMany({ where, include: UNIT, orderBy: { code: 'asc' }, take: q.limit, skip: q.offset }),
    ]);
    return { total, rows };
  }

  /** One station with its unit; UNKNOWN_STATION when there is none. */
  async get(code: string) {
    const s = await this.deps.db.station.findUnique({ where: { code }, include: UNIT });
    if (!s) throw notFound('UNKNOWN_STATION', `unknown station ${code}`);
    return s;
  }

  /** The units of the stations named (unknown codes are left out). */
  async unitsOf(codes: string[]): Promise<string[]> {
    const found = await this.deps.db.station.findMany({ where: { code: { in: codes } }, select: { unitId: true } });
    return found.map((st) => st.unitId);
  }

  /** Changes one station's metadata; `installedAt` is a Hanoi calendar date (null clears it). */
  update(id: string, change: { installedAt?: string | null } & Record<string, unknown>) {
    const { installedAt, ...rest } = change;
    return this.deps.db.station.update({
      where: { id },
      data: {
        ...rest,
        ...(installedAt !== undefined ? { installedAt: installedAt ? new Date(`${installedAt}T00:00:00+07:00`) : null } : {}),
      },
    });
  }

  /** Airings of the stations within `scope`, by start. */
  async occurrences(q: OccurrenceFilter, scope: object) {
    const { db } = this.deps;
    const where = {
      AND: [{ station: scope }],
      ...(q.station ? { station: { code: q.station } } : {}),
      ...(q.schedule ? { scheduleId: q.schedule } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.from || q.to ? { startsAt: { ...(q.from ? { gte: new Date(q.from) } : {}), ...(q.to ? { lt: new Date(q.to) } : {}) } } : {}),
    };
    const [total, rows] = await Promise.all([
      db.occurrence.count({ where }),
      db.occurrence.findMany({
        where,
        include: { station: { select: { code: true } } },
        // Unique order, so pages neither repeat nor skip airings that share an instant.
        orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
        take: q.limit,
        skip: q.offset,
      }),
    ]);
    return { total, rows };
  }

  /** One airing with the playback reports that prove it; UNKNOWN_OCCURRENCE when there is none. */
  async occurrence(id: string) {
    const o = await this.deps.db.occurrence.findUnique({
      where: { id },
      include: { station: { select: { code: true } }, reports: { orderBy: { receivedAt: 'asc' } } },
    });
    if (!o) throw notFound('UNKNOWN_OCCURRENCE', `unknown occurrence ${id}`);
    return o;
  }

  /**
   * Updates the metadata of existing stations; `inScope` says whether the caller may change a station of
   * that unit. Rows naming an unknown station, one outside the scope, or one twice are errors.
   */
  async importMeta(rows: unknown[], inScope: (unitId: string) => boolean): Promise<{ updated: number; unchanged: number }> {
    const { db } = this.deps;
    const errors: ImportError[] = [];
    const records: { row: number; r: StationMetaRow }[] = [];
    rows.forEach((raw, i) => {
      const parsed = StationMetaRow.safeParse(raw);
      const code = typeof (raw as { code?: unknown })?.code === 'string' ? (raw as { code: string }).code : null;
      if (parsed.success) records.push({ row: i + 1, r: parsed.data });
      else errors.push({ row: i + 1, code, message: parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ') });
    });
    const codes = records.map((x) => x.r.code);
    const found = new Map<string, { id: string; unitId: string; [k: string]: unknown }>();
    for (const part of chunked(codes))
      for (const s of await db.station.findMany({ where: { code: { in: part } } })) found.set(s.code, s as never);
    const seen = new Set<string>();
    for (const { row, r } of records) {
      const st = found.get(r.code);
      if (seen.has(r.code)) errors.push({ row, code: r.code, message: 'this station appears more than once' });
      else if (!st) errors.push({ row, code: r.code, message: `unknown station ${r.code}` });
      else if (!inScope(st.unitId)) errors.push({ row, code: r.code, message: `station ${r.code} is outside your unit` });
      seen.add(r.code);
    }
    if (errors.length)
      throw badRequest(
        'INVALID_IMPORT',
        errors
          .slice(0, 5)
          .map((e) => `row ${e.row}: ${e.message}`)
          .join(' | '),
        {
          rows: errors.slice(0, 200),
          total: errors.length,
        },
      );
    let updated = 0;
    const writes = records.flatMap(({ r }) => {
      const { code, installedAt, ...rest } = r;
      const st = found.get(code) as Record<string, unknown> & { id: string };
      const data: Record<string, unknown> = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
      if (installedAt) data.installedAt = new Date(`${installedAt}T00:00:00+07:00`);
      const changes = Object.entries(data).some(([k, v]) =>
        v instanceof Date ? (st[k] as Date | null)?.getTime() !== v.getTime() : st[k] !== v,
      );
      if (!changes) return [];
      updated++;
      return [db.station.update({ where: { id: st.id }, data })];
    });
    if (writes.length) await db.$transaction(writes);
    return { updated, unchanged: records.length - updated };
  }
}
