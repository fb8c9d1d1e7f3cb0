// Upstream radio for relay tests ([P-5.11]): a real HTTP stream on loopback, as an Icecast mount serves one: each
// listener gets MP3 encoded in real time by ffmpeg (a tone, or silence for dead air) until the test kills the
// station, which drops every listener at once as a dead transmitter would.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Upstream {
  url: string;
  port: number;
  /** Drops every listener and stops answering (connections refused). */
  kill(): Promise<void>;
  /** Answers again on the same port. */
  revive(): Promise<void>;
}

/** A station that streams `frequency` Hz (0: silence) as MP3, or answers with `respond` instead. */
export async function startUpstream(
  opts: { frequency?: number; respond?: (res: ServerResponse, path: string) => void; port?: number } = {},
): Promise<Upstream> {
  const encoders = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (port: number) => {
    server = createServer((req, res) => {
      if (opts.respond) return opts.respond(res, req.url ?? '/');
      const source = opts.frequency ? `sine=frequency=${opts.frequency}:sample_rate=44100` : 'anullsrc=r=44100:cl=mono';
      const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', source, '-ac', '1', '-b:a', '64k', '-f', 'mp3', '-'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      encoders.add(ffmpeg);
      ffmpeg.on('close', () => encoders.delete(ffmpeg));
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'icy-name': 'test radio' });
      ffmpeg.stdout.pipe(res);
      res.on('close', () => ffmpeg.kill('SIGKILL'));
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return (server.address() as AddressInfo).port;
  };
  const port = await listen(opts.port ?? 0);
  const kill = async () => {
    const closed = server ? once(server, 'close') : Promise.resolve();
    server?.close();
    for (const s of sockets) s.destroy();
    for (const e of encoders) e.kill('SIGKILL');
    await closed;
  };
  return { url: `http://127.0.0.1:${port}/live.mp3`, port, kill, revive: async () => void (await listen(port)) };
}
