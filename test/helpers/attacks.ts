// The attacks of issue #17, as functions over raw sockets and HTTP, shared by test/*/attacks.test.ts
// (which assert the refusals) and `npm run bench -- attacks` (which prints the figures). Every loop is
// bounded in count and time and every target is on loopback.
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type ApiAnswer, fromAddress } from './server.ts';

/** A TCP connection from a chosen loopback source address, resolved once connected. */
export function socketFrom(url: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything a socket receives until it closes (or `ms` pass), with the HTTP status and JSON body if it was an answer. */
export function answerOf(socket: Socket, ms: number): Promise<{ status: number | null; body: unknown; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      const status = text.match(/^HTTP\/1\.1 (\d{3})/)?.[1];
      const json = text.slice(text.indexOf('\r\n\r\n') + 4);
      let body: unknown = null;
      try {
        body = JSON.parse(json);
      } catch {
        body = json;
      }
      resolve({ status: status ? Number(status) : null, body, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('data', (d) => {
      text += d.toString('utf8');
    });
    socket.on('error', () => {});
    socket.once('close', () => done(true));
  });
}

/**
 * Anonymous POSTs with bad bodies to routes that change things, and wrong-password logins: what a stranger
 * can send. Returns the answers by status.
 */
export async function anonymousPosts(url: string, n: number, concurrency = 50): Promise<Record<string, number>> {
  const targets = [
    ['/api/v1/units/import', '{"bad":'],
    ['/api/v1/units/merge', '{"into":1}'],
    ['/api/v1/media/tts', '{}'],
    ['/api/v1/devices/provision', '[]'],
    ['/api/v1/stations/HN-00001/commands', '{"action":"volume","level":37}'],
    ['/api/v1/auth/login', '{"username":"admin","password":"guess-guess"}'],
    [`/api/v1/no-such-route`, '{}'],
  ] as const;
  const statuses: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const [path, body] = targets[next++ % targets.length] as (typeof targets)[number];
      const res = await fetch(`${url}${path}?i=${next}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

/**
 * Connections that send a login's headers and then its body one byte a second, forever (until stopped):
 * `open()` says how many the server still holds; connections it refused at once count as never opened.
 */
export async function slowBodies(url: string, n: number, localAddress = '127.0.0.2') {
  const sockets: Socket[] = [];
  let refused = 0;
  const { host } = new URL(url);
  for (let i = 0; i < n; i++) {
    try {
      const s = await socketFrom(url, localAddress);
      s.on('error', () => {});
      s.resume();
      s.write(`POST /api/v1/auth/login HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"u`);
      sockets.push(s);
    } catch {
      refused++;
    }
  }
  const trickle = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write('x');
  }, 1000);
  return {
    /** Connections the server has not closed. */
    open: () => sockets.filter((s) => !s.destroyed && !s.readableEnded).length,
    /** Connections the server closed at once (their address held too many). */
    refusedAtOnce: () => refused,
    /** Closed by the server, with or without an answer. */
    onChange: (listener: () => void) => {
      for (const s of sockets) s.on('close', listener);
      return () => {
        for (const s of sockets) s.off('close', listener);
      };
    },
    stop: () => {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    },
  };
}

/** A signed-in multipart upload whose file part starts and then stops: no more bytes, no closing boundary. */
export async function stalledUpload(url: string, token: string, waitMs: number) {
  const socket = await socketFrom(url);
  const boundary = 'loaphuongstall';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="stall.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
  const data = Buffer.alloc(64 * 1024, 1);
  socket.write(
    `POST /api/v1/media HTTP/1.1\r\nHost: ${new URL(url).host}\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + data.length + 1_000_000}\r\n\r\n`,
  );
  socket.write(head);
  socket.write(data);
  const started = performance.now();
  const answer = await answerOf(socket, waitMs);
  socket.destroy();
  return { ...answer, ms: Math.round(performance.now() - started) };
}

/** Encodes an MQTT remaining length (1–4 bytes). */
export function mqttLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/**
 * Sockets that each declare one huge MQTT packet (a CONNECT, or `first` after it) and then stream its body,
 * up to `sendBytes` each or until the broker closes them. Resolves once every socket is closed or `ms` passed.
 */
export async function bigPackets(
  mqttUrl: string,
  opts: { sockets: number; declaredBytes: number; sendBytes: number; ms: number; first?: Buffer; header?: number },
) {
  const results = await Promise.all(
    Array.from({ length: opts.sockets }, async () => {
      const socket = await socketFrom(mqttUrl.replace(/^mqtt:/, 'http:'));
      socket.on('error', () => {});
      socket.resume();
      let sent = 0;
      const closed = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), opts.ms);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (opts.first) socket.write(opts.first);
      socket.write(Buffer.concat([Buffer.from([opts.header ?? 0x10]), mqttLength(opts.declaredBytes)]));
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (!socket.destroyed && sent < opts.sendBytes) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
      const wasClosed = await closed;
      socket.destroy();
      return { closed: wasClosed, sent };
    }),
  );
  return { closed: results.filter((r) => r.closed).length, sentMb: results.reduce((a, r) => a + r.sent, 0) / 1024 / 1024 };
}

/** Sockets to the broker that connect and send nothing: how many it closed at once, and the rest. */
export async function silentMqtt(mqttUrl: string, n: number) {
  const sockets = await Promise.all(Array.from({ length: n }, () => socketFrom(mqttUrl.replace(/^mqtt:/, 'http:'))));
  for (const s of sockets) {
    s.on('error', () => {});
    s.resume();
  }
  return {
    open: () => sockets.filter((s) => !s.destroyed && !s.readableEnded).length,
    onChange: (listener: () => void) => {
      for (const s of sockets) s.on('close', listener);
      return () => {
        for (const s of sockets) s.off('close', listener);
      };
    },
    stop: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/** GET `path` from a source address through a keep-alive agent: the status, or "reset" when the server cut the connection. */
function getter(url: string, localAddress: string, sockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, localAddress });
  const get = (path: string) =>
    new Promise<{ ms: number; status: string }>((resolve) => {
      const t0 = performance.now();
      request(`${url}${path}`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ ms: performance.now() - t0, status: String(res.statusCode) }));
      })
        .on('error', () => resolve({ ms: performance.now() - t0, status: 'reset' }))
        .end();
    });
  return { get, close: () => agent.destroy() };
}

/** /health from 127.0.0.8 at `concurrency` while 127.0.0.9 asks `probes` times, one at a time: the prober's latencies. */
export async function healthFlood(url: string, opts: { flood: number; concurrency: number; probes: number }) {
  const attacker = getter(url, '127.0.0.8', opts.concurrency);
  const prober = getter(url, '127.0.0.9', 1);
  let sent = 0;
  const statuses: Record<string, number> = {};
  const worker = async () => {
    while (sent < opts.flood) {
      sent++;
      const { status } = await attacker.get('/health');
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const flood = Promise.all(Array.from({ length: opts.concurrency }, worker));
  const probes: { ms: number; status: string }[] = [];
  for (let i = 0; i < opts.probes; i++) probes.push(await prober.get('/health'));
  await flood;
  attacker.close();
  prober.close();
  const sorted = probes.map((p) => p.ms).sort((a, b) => a - b);
  return {
    p50Ms: Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 10) / 10,
    probeStatuses: probes.map((p) => Number(p.status)),
    floodStatuses: statuses,
  };
}

/** Wrong passwords for `username` from one address, then its owner (password and optional code) from another. */
export async function lockoutAttack(
  url: string,
  opts: { username: string; password: string; tries: number; totp?: () => string; from?: string; ownerFrom?: string },
): Promise<{ attacker: Record<string, number>; owner: ApiAnswer }> {
  const attacker = fromAddress({ url }, opts.from ?? '127.0.0.2');
  const statuses: Record<string, number> = {};
  for (let i = 0; i < opts.tries; i++) {
    const r = await attacker('POST', '/auth/login', { username: opts.username, password: `wrong-${i}-password` });
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  }
  const owner = await fromAddress({ url }, opts.ownerFrom ?? '127.0.0.3')('POST', '/auth/login', {
    username: opts.username,
    password: opts.password,
    ...(opts.totp ? { totp: opts.totp() } : {}),
  });
  return { attacker: statuses, owner };
}
