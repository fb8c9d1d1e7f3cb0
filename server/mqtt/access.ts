// Who may use the broker, answered in one place for every broker a deployment runs: the embedded aedes
// broker calls authenticate(); an external EMQX or RabbitMQ calls the HTTP hooks (routes/broker-hooks.ts),
// which use authenticate() and principal(); a Mosquitto broker reads the password and ACL files written
// here from the database. The topic rules themselves are the protocol's (firmware-protocol acl.ts).
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { grants, type MqttPrincipal } from '#protocol';
import { mosquittoHash, sameSecret, sha256 } from '../auth/passwords.ts';
import type { Db } from '../db/client.ts';
import type { DeviceService } from '../services/device-service.ts';
import type { UnitService } from '../services/unit-service.ts';

/** The server's own broker login. */
export interface BrokerAccount {
  username: string;
  password: string;
}

/** How long a device's login is taken from memory before the database is asked again. */
const CACHE_MS = 30_000;

export class BrokerAccess {
  constructor(
    private readonly deps: {
      db: Db;
      devices: DeviceService;
      units: UnitService;
      /** The server's login; absent when the server connects without credentials. */
      server?: BrokerAccount;
      /** Anonymous clients become read-only observers (development); otherwise they are refused. */
      anonymous: boolean;
      now: () => Date;
    },
  ) {}

  /** CONNECT: the server's account, or an enrolled device whose client id is its code; null refuses. */
  async authenticate(
    clientId: string | undefined,
    username: string | undefined,
    password: string | undefined,
  ): Promise<MqttPrincipal | null> {
    if (username === undefined || username === '') return this.deps.anonymous ? { role: 'observer' } : null;
    const server = this.deps.server;
    if (server && username === server.username)
      return password !== undefined && sameSecret(password, server.password) ? { role: 'server' } : null;
    if (clientId !== username || password === undefined) return null;
    const hash = sha256(password);
    let known = await this.credentials(username);
    // Another server process may have enrolled the device again (a new password) since this one cached it.
    if (known && !sameSecret(hash, known.secretHash)) {
      this.forget(username);
      known = await this.credentials(username);
    }
    if (!known || !sameSecret(hash, known.secretHash)) return null;
    return known.principal;
  }

  /**
   * A device's CONNECT credentials and rights, from memory after its first login: a reconnect storm of
   * thousands of gateways costs one password hash each, not a database walk up the unit tree. The unit
   * chain comes from the unit service's cached tree at each login (so renames and merges show at once);
   * enrollment, revocation and moves call forget(). A burst of first logins shares one load per device,
   * at most 8 at a time. What another server process changed is seen without it: a login is kept for
   * CACHE_MS only (a revocation there locks the device out here within that), and a password that does not
   * match is looked up again at once (a new enrollment there).
   */
  private async credentials(device: string): Promise<{ secretHash: string; principal: MqttPrincipal } | null> {
    const cached = this.cache.get(device);
    let loading = cached && this.deps.now().getTime() - cached.at < CACHE_MS ? cached.load : undefined;
    if (!loading) {
      const load = this.loads
        .add(() =>
          this.deps.db.device.findUnique({
            where: { code: device },
            select: { mqttSecretHash: true, revokedAt: true, publicKeyHex: true, station: { select: { unitId: true } } },
          }),
        )
        .then((d) =>
          d?.mqttSecretHash && !d.revokedAt && d.publicKeyHex ? { secretHash: d.mqttSecretHash, unitId: d.station.unitId } : null,
        );
      loading = load;
      this.cache.set(device, { load, at: this.deps.now().getTime() });
      // A failed or negative load is not kept: the next CONNECT asks again.
      load.then(
        (found) => {
          if (!found && this.cache.get(device)?.load === load) this.cache.delete(device);
        },
        () => this.cache.delete(device),
      );
    }
    const found = await loading;
    if (!found) return null;
    const tree = await this.deps.units.tree();
    return { secretHash: found.secretHash, principal: { role: 'device', device, units: tree.groups(found.unitId) } };
  }

  /** Drops what is known about a device's login (or every device's): after enrollment, revocation or a move. */
  forget(device?: string): void {
    if (device) this.cache.delete(device);
    else this.cache.clear();
  }

  private readonly cache = new Map<string, { load: Promise<{ secretHash: string; unitId: string } | null>; at: number }>();
  /** First logins load at most this many devices at once; the rest wait their turn (bounded work per burst). */
  private readonly loads = new PQueue({ concurrency: 8 });

  /** The principal behind a session already admitted (authorization hooks carry no password). */
  async principal(clientId: string | undefined, username: string | undefined): Promise<MqttPrincipal | null> {
    if (username === undefined || username === '') return this.deps.anonymous ? { role: 'observer' } : null;
    if (this.deps.server && username === this.deps.server.username) return { role: 'server' };
    if (clientId !== undefined && clientId !== username) return null;
    return this.deps.devices.principal(username);
  }

  /**
   * Mosquitto's password file and ACL file for every enrolled device and the server account. Devices
   * enrolled before the server kept Mosquitto hashes are left out (listed in `missing`): they get a new
   * enrollment token and re-enroll.
   */
  async mosquittoFiles(): Promise<{ passwd: string; acl: string; devices: number; missing: string[] }> {
    const { db, units, server, now } = this.deps;
    const tree = await units.tree();
    const rows = await db.device.findMany({
      where: { revokedAt: null, enrolledAt: { not: null } },
      select: { code: true, mqttSecretPbkdf2: true, station: { select: { unitId: true } } },
      orderBy: { code: 'asc' },
    });
    const header = `# Generated by loaphuong at ${now().toISOString()} from its database; do not edit (it is rewritten).\n`;
    const passwd: string[] = [];
    const acl: string[] = [header];
    const section = (username: string, p: MqttPrincipal) => {
      const g = grants(p);
      acl.push(`user ${username}`, ...g.publish.map((t) => `topic write ${t}`), ...g.subscribe.map((t) => `topic read ${t}`), '');
    };
    if (server) {
      passwd.push(`${server.username}:${mosquittoHash(server.password)}`);
      section(server.username, { role: 'server' });
    }
    const missing: string[] = [];
    for (const d of rows) {
      if (!d.mqttSecretPbkdf2) {
        missing.push(d.code);
        continue;
      }
      passwd.push(`${d.code}:${d.mqttSecretPbkdf2}`);
      section(d.code, { role: 'device', device: d.code, units: tree.chain(d.station.unitId).map((u) => u.code) });
    }
    return { passwd: `${passwd.join('\n')}\n`, acl: `${acl.join('\n')}\n`, devices: rows.length - missing.length, missing };
  }

  /** Writes `passwd` (0640: the mosquitto user reads it through the group) and `acl` into a directory, each replaced atomically; Mosquitto reloads both on SIGHUP. */
  async writeMosquittoFiles(dir: string): Promise<{ devices: number; missing: string[] }> {
    const files = await this.mosquittoFiles();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const [name, text, mode] of [
      ['passwd', files.passwd, 0o640],
      ['acl', files.acl, 0o644],
    ] as const) {
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, text, { mode });
      await chmod(tmp, mode);
      await rename(tmp, join(dir, name));
    }
    return { devices: files.devices, missing: files.missing };
  }
}
