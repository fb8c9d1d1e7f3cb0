import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/** A TCP relay in front of a broker (or HTTP server) whose link the test can cut and restore (a 4G outage). */
export async function tcpProxy(targetPort: number) {
  const open = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    /** The same relay for HTTP (an audio server behind a flaky link). */
    httpUrl: `http://127.0.0.1:${port}`,
    /** Drops every connection and refuses new ones. */
    cut() {
      down = true;
      for (const s of open) s.destroy();
    },
    restore() {
      down = false;
    },
    /** Stops listening and drops what is still connected (server.close alone waits for every connection). */
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}
