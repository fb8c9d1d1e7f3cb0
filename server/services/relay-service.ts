// Relays (tiếp sóng, [P-5.11]): a library item that is an upstream stream (VOV, the provincial radio) rather than a
// file: its URLs in failover order, its slot length, how much dead air switches, and the approved file that airs
// when every URL fails. It goes through the same workflow as a file (draft, submit, approve) and is scheduled like
// one; the gateways pull the stream themselves (mode `direct`). Before it is stored, the server checks what it can:
// each URL is fetched with redirects followed by hand (at most 5; each hop's address checked), the answer must be
// a stream (not a web page), and ffprobe must find an audio codec a gateway decodes. The server itself never
// connects to a private, loopback or link-local address unless the administrator allowed it (LP_RELAY_ALLOW): such
// a URL is stored unchecked (a gateway on that network may reach it), and said so.
import { createHash, randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { RelaySpec } from '#protocol';
import type { Db } from '../db/client.ts';
import type { Command } from '../media/ffmpeg.ts';
import type { Runner } from '../media/process-runner.ts';
import { badRequest, notFound } from './errors.ts';

/** What a gateway's ffmpeg decodes for a relay. */
export const RELAY_CODECS = ['mp3', 'aac', 'opus', 'vorbis'];
const MAX_REDIRECTS = 5;
const CHECK_TIMEOUT_MS = 8000;
/** Answers that are streams: audio of any kind, Ogg, HLS playlists, and the octet streams some servers send. */
const STREAM_TYPES = /^(audio\/|application\/(ogg|vnd\.apple\.mpegurl|x-mpegurl|octet-stream)|video\/mp2t)/i;

export interface RelayInput {
  title: string;
  urls: string[];
  /** The slot a relay of it fills, ms. */
  durationMs: number;
  fallbackMediaId: string;
  mode: 'direct' | 'via-server';
  deadAirS?: number;
  recheckS?: number;
  category?: string;
  unitId: string | null;
  userId: string;
}

/** What the server found when it checked a URL. */
export type UrlCheck =
  | { url: string; checked: true; finalUrl: string; codec: string; contentType: string }
  | { url: string; checked: false; reason: 'ADDRESS_NOT_ALLOWED' | 'UNREACHABLE'; detail: string };

export interface RelayDeps {
  db: Db;
  run: Runner;
  ffprobePath: string;
  fetch: typeof fetch;
  /** Addresses a host name resolves to. */
  lookup(host: string): Promise<string[]>;
  /** CIDRs or addresses the server may pull from although private (LP_RELAY_ALLOW). */
  allow: string[];
}

/** Private, loopback, link-local, CGNAT, multicast and reserved ranges: never pulled from unless allowed. */
function privateRanges(): BlockList {
  const b = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
    ['224.0.0.0', 3],
  ] as const)
    b.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [
    ['::', 127],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
    ['::ffff:0:0', 96],
  ] as const)
    b.addSubnet(net, bits, 'ipv6');
  return b;
}

export class RelayService {
  private readonly private = privateRanges();
  private readonly allowed = new BlockList();

  constructor(private readonly deps: RelayDeps) {
    for (const entry of deps.allow) {
      const [net, bits] = entry.split('/');
      const family = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
      if (!net || !isIP(net)) throw new Error(`LP_RELAY_ALLOW: ${entry} is not an address or CIDR`);
      if (bits === undefined) this.allowed.addAddress(net, family);
      else this.allowed.addSubnet(net, Number(bits), family);
    }
  }

  /** Checks and stores a relay item (a draft of the library). */
  async create(input: RelayInput) {
    const { db } = this.deps;
    const spec = RelaySpec.shape.urls.safeParse(input.urls);
    if (!spec.success) throw badRequest('INVALID_RELAY_URL', 'one to three http(s) URLs of at most 512 characters, without spaces');
    if (input.mode === 'via-server')
      throw badRequest(
        'RELAY_MODE_UNSUPPORTED',
        'relays through the server are not built yet: use mode "direct" (each gateway pulls the stream)',
      );
    const fallback = await db.media.findUnique({ where: { id: input.fallbackMediaId } });
    if (!fallback || fallback.relay || fallback.status === 'live')
      throw notFound('UNKNOWN_MEDIA', `the fallback ${input.fallbackMediaId} is not a file of the library`);
    const checks: UrlCheck[] = [];
    for (const url of input.urls) checks.push(await this.check(url));
    const relay = {
      urls: input.urls,
      mode: input.mode,
      deadAirMs: (input.deadAirS ?? 10) * 1000,
      recheckMs: (input.recheckS ?? 60) * 1000,
    };
    const id = randomUUID();
    const media = await db.media.create({
      data: {
        id,
        title: input.title,
        // Not a file: a stable name nobody can fetch ([P-6.1] serves files only).
        sha256: createHash('sha256').update(`relay:${id}`).digest('hex'),
        durationMs: input.durationMs,
        sizeBytes: 0,
        codec: 'relay',
        sampleRate: 48_000,
        channels: 1,
        sourceName: input.urls[0] as string,
        sourceFormat: 'relay',
        category: input.category ?? 'news',
        searchText: input.title.toLowerCase(),
        relay: JSON.stringify(relay),
        fallbackMediaId: fallback.id,
        unitId: input.unitId,
        createdById: input.userId,
      },
    });
    return { media, checks };
  }

  /**
   * What can be known of a URL from here: redirects followed by hand (each hop's address checked), a stream
   * and not a page, a codec gateways decode. Refusals that cannot change are errors; an address the server may
   * not reach, or a host that does not answer now, leaves the URL unchecked.
   */
  async check(url: string): Promise<UrlCheck> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const target = new URL(current);
      if (target.protocol !== 'http:' && target.protocol !== 'https:')
        throw badRequest('INVALID_RELAY_URL', `${current}: only http and https streams are relayed`);
      const refused = await this.refusedAddress(target.hostname);
      if (refused) return { url, checked: false, reason: 'ADDRESS_NOT_ALLOWED', detail: refused };
      let res: Response;
      try {
        res = await this.deps.fetch(current, { redirect: 'manual', signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
      } catch (err) {
        return { url, checked: false, reason: 'UNREACHABLE', detail: `${current}: ${(err as Error).message}` };
      }
      // Only the headers are read: a stream never ends.
      void res.body?.cancel().catch(() => {});
      if (res.status >= 300 && res.status < 400) {
        const next = res.headers.get('location');
        if (!next) throw badRequest('RELAY_HTTP_ERROR', `${current} answered ${res.status} without a Location`);
        current = new URL(next, current).toString();
        continue;
      }
      if (!res.ok) throw badRequest('RELAY_HTTP_ERROR', `${current} answered ${res.status}`);
      const contentType = res.headers.get('content-type') ?? '';
      if (!STREAM_TYPES.test(contentType))
        throw badRequest('RELAY_NOT_A_STREAM', `${current} is ${contentType || 'of no declared type'}, not an audio stream`);
      const codec = await this.codec(current);
      if (!codec) throw badRequest('RELAY_NOT_A_STREAM', `${current} carries no audio ffprobe can read`);
      if (!RELAY_CODECS.includes(codec))
        throw badRequest('RELAY_UNSUPPORTED_CODEC', `${current} is ${codec}; gateways relay ${RELAY_CODECS.join(', ')}`);
      return { url, checked: true, finalUrl: current, codec, contentType };
    }
    throw badRequest('RELAY_REDIRECT_LOOP', `${url} redirects more than ${MAX_REDIRECTS} times`);
  }

  /** Why the server may not connect to this host (a private address not allowed), or undefined. */
  private async refusedAddress(host: string): Promise<string | undefined> {
    const bare = host.replace(/^\[|\]$/g, '');
    let addresses: string[];
    try {
      addresses = isIP(bare) ? [bare] : await this.deps.lookup(bare);
    } catch (err) {
      return `${host} does not resolve: ${(err as Error).message}`;
    }
    for (const a of addresses) {
      const family = isIP(a) === 6 ? 'ipv6' : 'ipv4';
      if (this.private.check(a, family) && !this.allowed.check(a, family))
        return `${host} is ${a}, a private address the server does not pull from (LP_RELAY_ALLOW)`;
    }
    return undefined;
  }

  /** The first audio stream's codec, read by ffprobe from a few hundred ms of the stream. */
  private async codec(url: string): Promise<string | undefined> {
    const command: Command = {
      cmd: this.deps.ffprobePath,
      args: [
        '-v',
        'error',
        '-rw_timeout',
        '5000000',
        '-probesize',
        '65536',
        '-analyzeduration',
        '1000000',
        '-print_format',
        'json',
        '-show_streams',
        url,
      ],
    };
    const r = await this.deps.run(command, { timeoutMs: CHECK_TIMEOUT_MS + 4000 }).catch(() => undefined);
    if (r?.code !== 0) return undefined;
    try {
      const json = JSON.parse(r.stdout) as { streams?: { codec_type?: string; codec_name?: string }[] };
      return json.streams?.find((s) => s.codec_type === 'audio')?.codec_name;
    } catch {
      return undefined;
    }
  }
}
