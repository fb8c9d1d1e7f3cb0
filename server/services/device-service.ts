// Gateways ("devices") of a station, their outputs (zones), and provisioning: creating a device yields a
// one-time enrollment token; the agent enrolls with it, sending the public half of a key pair it
// generated itself, and receives MQTT credentials, the server's keys and its group topics ([P-5.1]).
// Secrets are stored only as sha256 hashes: they are 256-bit random, so a slow hash adds nothing.
import type { z } from 'zod';
import {
  type BodyOf,
  type BodyType,
  type EnrollRequest,
  type EnrollResponse,
  type Envelope,
  type MqttPrincipal,
  open,
  publicKeyFromHex,
} from '#protocol';
import { mosquittoHash, newToken, sha256 } from '../auth/passwords.ts';
import { chunked, type Db } from '../db/client.ts';
import type { ServerKey } from '../keys.ts';
import { badRequest, conflict, DomainError, notFound } from './errors.ts';
import type { DomainEvents } from './events.ts';
import type { UnitService } from './unit-service.ts';

/** An enrollment token is good for this long. */
export const ENROLL_TOKEN_TTL_MS = 7 * 86_400_000;

export const deviceKid = (publicKeyHex: string) => `dev:${publicKeyHex.slice(0, 16)}`;

export interface DeviceInput {
  /** Defaults to the station code for a station's first device, then <station>-2, -3, … */
  code?: string;
  name?: string;
  model?: string;
  zones?: { code: string; name?: string }[];
}

/** Who is behind a device topic id: the station, and the key its messages must carry. */
export interface DeviceIdentity {
  device: string;
  station: { id: string; code: string; unitId: string };
  publicKeyHex: string;
}

export class DeviceService {
  constructor(
    private readonly deps: {
      db: Db;
      now: () => Date;
      key: ServerKey;
      units: UnitService;
      mqttUrl: () => string;
      /** Told of revocations, credentials issued or withdrawn, and stations whose gateways changed. */
      events?: DomainEvents;
    },
  ) {}

  async create(stationCode: string, input: DeviceInput) {
    const { db } = this.deps;
    const station = await db.station.findUnique({ where: { code: stationCode }, include: { devices: { select: { code: true } } } });
    if (!station) throw notFound('UNKNOWN_STATION', `unknown station ${stationCode}`);
    const taken = new Set(station.devices.map((d) => d.code));
    let code = input.code;
    if (!code) {
      code = station.code;
      for (let n = 2; taken.has(code); n++) code = `${station.code}-${n}`;
    }
    if (await db.device.findUnique({ where: { code }, select: { id: true } })) throw conflict('DEVICE_EXISTS', `device ${code} exists`);
    const zones = input.zones?.length ? input.zones : [{ code: 'z1', name: '' }];
    if (new Set(zones.map((z) => z.code)).size !== zones.length) throw badRequest('DUPLICATE_ZONE', 'zone codes must be unique per device');
    const { token, fields } = this.enrollmentToken();
    const device = await db.device.create({
      data: {
        code,
        stationId: station.id,
        name: input.name ?? '',
        model: input.model,
        ...fields,
        zones: { create: zones.map((z) => ({ code: z.code, name: z.name ?? '' })) },
      },
      include: { zones: true, station: { select: { code: true } } },
    });
    return { device, enrollToken: token };
  }

  /**
   * Provisions the first gateway (one zone, code = station code) of every listed station that has no
   * device yet, in one transaction: for rolling out a district or a province. Returns the tokens.
   */
  async provisionMany(
    stationCodes: string[],
  ): Promise<{ created: { station: string; device: string; enrollToken: string }[]; skipped: string[] }> {
    const { db } = this.deps;
    const codes = [...new Set(stationCodes)];
    const stations: { id: string; code: string; devices: { id: string }[] }[] = [];
    for (const part of chunked(codes))
      stations.push(
        ...(await db.station.findMany({
          where: { code: { in: part } },
          select: { id: true, code: true, devices: { select: { id: true }, take: 1 } },
        })),
      );
    if (stations.length !== codes.length) {
      const known = new Set(stations.map((st) => st.code));
      throw notFound(
        'UNKNOWN_STATION',
        `unknown station(s): ${codes
          .filter((c) => !known.has(c))
          .slice(0, 20)
          .join(', ')}`,
      );
    }
    const fresh = stations.filter((st) => !st.devices.length);
    const taken = new Set<string>();
    for (const part of chunked(fresh.map((st) => st.code)))
      for (const d of await db.device.findMany({ where: { code: { in: part } }, select: { code: true } })) taken.add(d.code);
    const rows = fresh
      .filter((st) => !taken.has(st.code))
      .map((st) => ({ id: crypto.randomUUID(), station: st, ...this.enrollmentToken() }));
    await db.$transaction(async (tx) => {
      for (const part of chunked(rows, 2000)) {
        await tx.device.createMany({ data: part.map((r) => ({ id: r.id, code: r.station.code, stationId: r.station.id, ...r.fields })) });
        await tx.zone.createMany({ data: part.map((r) => ({ deviceId: r.id, code: 'z1' })) });
      }
    });
    const made = new Set(rows.map((r) => r.station.code));
    return {
      created: rows.map((r) => ({ station: r.station.code, device: r.station.code, enrollToken: r.token })),
      skipped: codes.filter((c) => !made.has(c)),
    };
  }

  /** A new one-time token and the columns that store it (its hash and expiry). */
  private enrollmentToken() {
    const { token, hash } = newToken();
    return { token, fields: { enrollTokenHash: hash, enrollTokenExpiresAt: new Date(this.deps.now().getTime() + ENROLL_TOKEN_TTL_MS) } };
  }

  /** Issues a fresh token (the previous one stops working); for a gateway replaced or reinstalled. */
  async reissueToken(code: string) {
    const { token, fields } = this.enrollmentToken();
    const { count } = await this.deps.db.device.updateMany({ where: { code, revokedAt: null }, data: fields });
    if (!count) throw notFound('UNKNOWN_DEVICE', `unknown or revoked device ${code}`);
    return { enrollToken: token };
  }

  async revoke(code: string) {
    const device = await this.deps.db.device.findUnique({ where: { code }, select: { stationId: true } });
    const { count } = await this.deps.db.device.updateMany({
      where: { code, revokedAt: null },
      data: { revokedAt: this.deps.now(), enrollTokenHash: null, mqttSecretHash: null, mqttSecretPbkdf2: null },
    });
    if (!count || !device) throw notFound('UNKNOWN_DEVICE', `unknown or already revoked device ${code}`);
    await this.deps.events?.emit('device-revoked', code);
    await this.deps.events?.emit('credentials-changed');
    await this.deps.events?.emit('stations-changed', [device.stationId]);
  }

  /** [P-6.4] Spends the token once; the same request again gets 401, so a leaked token is useless afterwards. */
  async enroll(request: z.infer<typeof EnrollRequest>): Promise<z.infer<typeof EnrollResponse>> {
    const { db, now, key } = this.deps;
    try {
      publicKeyFromHex(request.publicKeyHex);
    } catch {
      throw badRequest('INVALID_KEY', 'not an Ed25519 public key');
    }
    if (!request.protocolVersions.includes(1)) throw badRequest('UNSUPPORTED_VERSION', 'this server speaks protocol version 1');
    const device = await db.device.findUnique({
      where: { enrollTokenHash: sha256(request.token) },
      include: { station: true, zones: { orderBy: { code: 'asc' } } },
    });
    if (!device || device.revokedAt || !device.enrollTokenExpiresAt || device.enrollTokenExpiresAt <= now())
      throw new DomainError('unauthenticated', 'INVALID_ENROLLMENT_TOKEN', 'the enrollment token is unknown, spent, expired or revoked');
    const { token: password, hash } = newToken();
    // Spending the token is conditional on it still being there: two concurrent enrollments cannot both win.
    const { count } = await db.device.updateMany({
      where: { id: device.id, enrollTokenHash: device.enrollTokenHash },
      data: {
        enrollTokenHash: null,
        enrollTokenExpiresAt: null,
        publicKeyHex: request.publicKeyHex,
        mqttSecretHash: hash,
        mqttSecretPbkdf2: mosquittoHash(password),
        agentVersion: request.agentVersion,
        enrolledAt: now(),
      },
    });
    if (!count) throw new DomainError('unauthenticated', 'INVALID_ENROLLMENT_TOKEN', 'the enrollment token was spent concurrently');
    const groups = await this.unitChain(device.station.unitId);
    // An external broker's credential files hold the gateway before enrollment answers.
    await this.deps.events?.emit('credentials-changed');
    // The new gateway's plan is waiting for it, retained, when it subscribes.
    await this.deps.events?.emit('stations-changed', [device.stationId]);
    return {
      device: device.code,
      station: device.station.code,
      protocolVersion: 1,
      mqtt: { url: this.deps.mqttUrl(), clientId: device.code, username: device.code, password },
      serverKeys: key.trusted(),
      groups,
      zones: device.zones.map((z) => ({ code: z.code, name: z.name })),
    };
  }

  /** A unit's code and its ancestors', nearest first ([P-2.5] groups), from the cached tree. */
  private async unitChain(unitId: string): Promise<string[]> {
    return (await this.deps.units.tree()).groups(unitId);
  }

  /** [P-2.6] The broker principal of a device that logged in: its code and its station's unit chain. */
  async principal(device: string): Promise<MqttPrincipal | null> {
    const identity = await this.identify(device);
    if (!identity) return null;
    return { role: 'device', device: identity.device, units: await this.unitChain(identity.station.unitId) };
  }

  /** A station's gateways with their zones, oldest first. */
  at(stationId: string) {
    return this.deps.db.device.findMany({
      where: { stationId },
      include: { zones: { orderBy: { code: 'asc' } }, station: { select: { code: true } } },
      orderBy: { createdAt: 'asc' },
    });
  }

  /** The topic ids of the stations' enrolled, unrevoked devices. */
  async enrolledAt(stationIds: string[]): Promise<string[]> {
    const rows = await this.deps.db.device.findMany({
      where: { stationId: { in: stationIds }, enrolledAt: { not: null }, revokedAt: null },
      select: { code: true },
      orderBy: { code: 'asc' },
    });
    return rows.map((d) => d.code);
  }

  /** The topic ids of the stations' devices. */
  async codesAt(stationIds: string[]): Promise<string[]> {
    const rows = await this.deps.db.device.findMany({ where: { stationId: { in: stationIds } }, select: { code: true } });
    return rows.map((d) => d.code);
  }

  /** The enrolled, unrevoked device behind a topic id, or null. */
  async identify(device: string): Promise<DeviceIdentity | null> {
    const d = await this.deps.db.device.findUnique({
      where: { code: device },
      select: { code: true, publicKeyHex: true, revokedAt: true, station: { select: { id: true, code: true, unitId: true } } },
    });
    if (!d || d.revokedAt || !d.publicKeyHex) return null;
    return { device: d.code, station: d.station, publicKeyHex: d.publicKeyHex };
  }

  /** `identify` for many devices with one query per 900: the enrolled, unrevoked ones, by code. */
  async identifyMany(codes: string[]): Promise<Map<string, DeviceIdentity>> {
    const found = new Map<string, DeviceIdentity>();
    for (const part of chunked(codes)) {
      const rows = await this.deps.db.device.findMany({
        where: { code: { in: part }, revokedAt: null, publicKeyHex: { not: null } },
        select: { code: true, publicKeyHex: true, station: { select: { id: true, code: true, unitId: true } } },
      });
      for (const d of rows) if (d.publicKeyHex) found.set(d.code, { device: d.code, station: d.station, publicKeyHex: d.publicKeyHex });
    }
    return found;
  }

  /** Opens a signed message a device published on its topic `device`, with that device's enrolled key. */
  async open<T extends BodyType>(
    device: string,
    payload: Buffer,
    type: T,
  ): Promise<{ ok: true; identity: DeviceIdentity; body: BodyOf<T>; envelope: Envelope } | { ok: false; code: string; message: string }> {
    return this.openAs(await this.identify(device), device, payload, type);
  }

  /** `open` with the device's identity already looked up (null: none enrolled), e.g. by `identifyMany` for a batch. */
  openAs<T extends BodyType>(
    identity: DeviceIdentity | null | undefined,
    device: string,
    payload: Buffer,
    type: T,
  ): { ok: true; identity: DeviceIdentity; body: BodyOf<T>; envelope: Envelope } | { ok: false; code: string; message: string } {
    if (!identity) return { ok: false, code: 'UNKNOWN_DEVICE', message: `no enrolled device ${device}` };
    const key = publicKeyFromHex(identity.publicKeyHex);
    const kid = deviceKid(identity.publicKeyHex);
    const opened = open(payload, type, { keys: (k) => (k === kid ? key : undefined), now: this.deps.now() });
    if (!opened.ok) return opened;
    return { ok: true, identity, body: opened.body, envelope: opened.envelope };
  }
}
