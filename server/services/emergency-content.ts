// What an alert plays and how it repeats: an approved library item, a prepared template, or the typed
// text spoken now (approved by raising the alert; an exercise or a test says so first).
import { randomBytes } from 'node:crypto';
import type { EmergencyRepeat } from '#protocol';
import type { Db } from '../db/client.ts';
import type { Area } from './emergency-area.ts';
import type { EmergencyRow } from './emergency-tracking.ts';
import { badRequest, conflict, notFound } from './errors.ts';
import { LibraryService } from './library-service.ts';
import type { TtsService } from './tts-service.ts';
import type { AuthUser } from './user-service.ts';

export type AlertStatus = 'actual' | 'exercise' | 'test';
export type Content = { mediaId: string } | { text: string; voice?: string } | { template: string };
export interface Repeat {
  count?: number;
  intervalS?: number;
  until?: Date;
}

export interface EmergencyInput {
  status: AlertStatus;
  headline: string;
  area: Area;
  content: Content;
  repeat?: Repeat;
  validUntil?: Date;
}
export type EmergencyPatch = Partial<Pick<EmergencyInput, 'headline' | 'content' | 'repeat' | 'validUntil'>>;

/** What an alert says before its content when it is not real (DESIGN §1: never mistaken for one). */
const ANNOUNCE: Record<AlertStatus, string> = {
  actual: '',
  exercise: 'Đây là tin diễn tập, không phải tình huống thật. ',
  test: 'Đây là tin thử nghiệm hệ thống, không phải tình huống thật. ',
};
/** The alert's audio: an approved library item, a template's, or the typed text spoken now (approved by raising the alert). */
export async function alertContent(
  deps: { db: Db; tts?: TtsService; now: () => Date; blobFile?: (sha256: string) => string },
  user: AuthUser,
  content: Content,
  status: AlertStatus,
  headline: string,
) {
  const { db } = deps;
  const recorded = await recording(deps, content);
  if (recorded && status === 'actual') return recorded;
  const tts = deps.tts;
  if (!tts) throw conflict('TTS_UNAVAILABLE', 'no speech engine is configured');
  const speech = {
    title: `${status === 'actual' ? 'Khẩn cấp' : status === 'exercise' ? 'Diễn tập' : 'Thử nghiệm'}: ${headline}`.slice(0, 200),
    voice: 'voice' in content && content.voice ? content.voice : 'vi',
    speed: 150,
    pitch: 50,
    userId: user.id,
    unitId: user.unitId,
  };
  // An exercise or a test says so first: typed words get the sentence before them, a recording is preceded
  // by it spoken (a new item, so a template's copy on the gateways is not used for a drill).
  const blobFile = deps.blobFile;
  if (recorded && !blobFile) throw conflict('TTS_UNAVAILABLE', 'the audio store is not reachable to announce the exercise');
  const { mediaId } = recorded
    ? await tts.spokenBefore({
        ...speech,
        text: ANNOUNCE[status],
        chime: 'none',
        after: (blobFile as (sha: string) => string)(recorded.media.sha256),
      })
    : await tts.create({ ...speech, text: `${ANNOUNCE[status]}${'text' in content ? content.text.trim() : ''}`, chime: 'intro' });
  const media = await db.media.update({
    where: { id: mediaId },
    data: { status: 'approved', category: 'emergency', statusReason: 'spoken for an emergency alert' },
  });
  await db.mediaTransition.create({
    data: { mediaId, from: 'draft', to: 'approved', byId: user.id, reason: 'emergency alert', at: deps.now() },
  });
  const text = recorded ? `${ANNOUNCE[status]}${recorded.text}` : `${ANNOUNCE[status]}${'text' in content ? content.text.trim() : ''}`;
  return { media, templateId: recorded?.templateId ?? null, text };
}

/** A template's or a library item's audio, approved and valid now; undefined for typed words. */
async function recording(deps: { db: Db; now: () => Date }, content: Content) {
  const { db } = deps;
  if ('template' in content) {
    const t = await db.emergencyTemplate.findUnique({ where: { code: content.template }, include: { media: true } });
    if (!t) throw notFound('UNKNOWN_TEMPLATE', `unknown alert template ${content.template}`);
    LibraryService.assertSchedulable(t.media, deps.now());
    return { media: t.media, templateId: t.id, text: t.text };
  }
  if ('mediaId' in content) {
    const media = await db.media.findUnique({ where: { id: content.mediaId } });
    if (!media) throw notFound('UNKNOWN_MEDIA', `unknown media ${content.mediaId}`);
    LibraryService.assertSchedulable(media, deps.now());
    return { media, templateId: null, text: '' };
  }
  return undefined;
}

/** The airing key: the occurrenceId of its group commands, short enough for `{key}@{station}` ([P-5.5]). */
export function airingKey(): string {
  return `e${randomBytes(7).toString('hex')}`;
}

/** A repeat as the protocol carries it; with nothing given, the alert airs once. */
export function repeatOf(r: Repeat | undefined, validUntil: Date): EmergencyRepeat {
  if (r?.until && r.until > validUntil) throw badRequest('REPEAT_PAST_VALIDITY', 'repeat.until lies after validUntil');
  if (r?.until)
    return {
      repeatUntil: r.until.toISOString(),
      ...(r.count ? { repeatCount: r.count } : {}),
      ...(r.intervalS ? { repeatIntervalMs: r.intervalS * 1000 } : {}),
    };
  return { repeatCount: r?.count ?? 1, ...(r?.intervalS ? { repeatIntervalMs: r.intervalS * 1000 } : {}) };
}

export function commandRepeat(row: Pick<EmergencyRow, 'repeatCount' | 'repeatIntervalS' | 'repeatUntil'>): EmergencyRepeat {
  return {
    ...(row.repeatCount ? { repeatCount: row.repeatCount } : {}),
    ...(row.repeatUntil ? { repeatUntil: row.repeatUntil.toISOString() } : {}),
    ...(row.repeatIntervalS ? { repeatIntervalMs: row.repeatIntervalS * 1000 } : {}),
    ...(!row.repeatCount && !row.repeatUntil ? { repeatCount: 1 } : {}),
  };
}

/** An alert lives an hour unless told otherwise, a day at most (a plan looks back a day). */
const DEFAULT_VALID_MS = 3600_000;
const MAX_VALID_MS = 86_400_000;

/** When an alert stops: as given (not past, a day at most), else an hour from now. */
export function alertValidUntil(given: Date | undefined, at: Date): Date {
  const until = given ?? new Date(at.getTime() + DEFAULT_VALID_MS);
  if (until <= at) throw badRequest('VALID_UNTIL_PAST', `validUntil ${until.toISOString()} has passed`);
  if (until.getTime() - at.getTime() > MAX_VALID_MS)
    throw badRequest('VALID_TOO_LONG', 'an alert is valid for at most 24 hours; raise it again after');
  return until;
}
