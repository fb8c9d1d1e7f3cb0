// Playlists: ordered library items with optional gaps, reusable, schedulable like one item.
import type { Db } from '../db/client.ts';
import type { Prisma } from '../db/generated/client.ts';
import { badRequest, notFound } from './errors.ts';

export interface PlaylistItemInput {
  mediaId: string;
  gapAfterMs?: number;
}

const INCLUDE = { items: { orderBy: { position: 'asc' }, include: { media: true } } } as const;

export type PlaylistWithItems = NonNullable<Awaited<ReturnType<PlaylistService['get']>>>;

/** Where each item starts relative to the playlist's start, and how long the whole plays. */
export function layout(items: { durationMs: number; gapAfterMs: number }[]): { offsets: number[]; totalMs: number } {
  const offsets: number[] = [];
  let t = 0;
  items.forEach((item, i) => {
    offsets.push(t);
    t += item.durationMs + (i < items.length - 1 ? item.gapAfterMs : 0);
  });
  return { offsets, totalMs: t };
}

export class PlaylistService {
  constructor(private readonly deps: { db: Db }) {}

  /** `visible` limits which library items the author may put in (their scope); others count as unknown. */
  async create(input: {
    title: string;
    description?: string;
    items: PlaylistItemInput[];
    userId?: string;
    unitId?: string | null;
    visible?: Prisma.MediaWhereInput;
  }) {
    await this.assertMediaExist(input.items, input.visible);
    const p = await this.deps.db.playlist.create({
      data: {
        title: input.title,
        description: input.description ?? '',
        createdById: input.userId,
        unitId: input.unitId ?? null,
        items: { create: input.items.map((it, position) => ({ position, mediaId: it.mediaId, gapAfterMs: it.gapAfterMs ?? 0 })) },
      },
    });
    return this.getOrThrow(p.id);
  }

  async replaceItems(id: string, items: PlaylistItemInput[], visible?: Prisma.MediaWhereInput) {
    await this.getOrThrow(id);
    await this.assertMediaExist(items, visible);
    await this.deps.db.$transaction([
      this.deps.db.playlistItem.deleteMany({ where: { playlistId: id } }),
      this.deps.db.playlistItem.createMany({
        data: items.map((it, position) => ({ playlistId: id, position, mediaId: it.mediaId, gapAfterMs: it.gapAfterMs ?? 0 })),
      }),
    ]);
    return this.getOrThrow(id);
  }

  /** The unit that owns a playlist (null: the province), or null when there is no such playlist. */
  owner(id: string) {
    return this.deps.db.playlist.findUnique({ where: { id }, select: { unitId: true } });
  }

  get(id: string) {
    return this.deps.db.playlist.findUnique({ where: { id }, include: INCLUDE });
  }

  async getOrThrow(id: string) {
    const p = await this.get(id);
    if (!p) throw notFound('UNKNOWN_PLAYLIST', `unknown playlist ${id}`);
    return p;
  }

  list(limit: number, offset: number, where: Prisma.PlaylistWhereInput = {}) {
    return this.deps.db.playlist.findMany({ where, include: INCLUDE, orderBy: { createdAt: 'desc' }, take: limit, skip: offset });
  }

  private async assertMediaExist(items: PlaylistItemInput[], visible: Prisma.MediaWhereInput = {}) {
    if (!items.length) throw badRequest('EMPTY_PLAYLIST', 'a playlist needs at least one item');
    const ids = [...new Set(items.map((i) => i.mediaId))];
    const found = await this.deps.db.media.count({ where: { AND: [{ id: { in: ids } }, visible] } });
    if (found !== ids.length) throw notFound('UNKNOWN_MEDIA', 'a playlist item names an unknown media item');
  }
}
