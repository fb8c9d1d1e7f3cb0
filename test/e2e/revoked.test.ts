// A revoked gateway is locked out everywhere at once: its live MQTT session is closed, its password no
// longer logs in, its validly signed proofs and telemetry are refused without a write, commands to it
// are refused, and it gets no new enrollment token. A real agent, a real broker, the real ingest.
import { join } from 'node:path';
import t from 'tap';
import { type PlaybackReport, seal } from '#protocol';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { matchExact } from '../helpers/match.ts';
import { api, deviceClient, scheduleItem, sendCommand, startTestServer, uploadApproved } from '../helpers/server.ts';

const clock = new FakeClock(Date.now());
const server = await startTestServer({ now: clock.date });
t.teardown(() => server.stop());

t.test('a revoked gateway is refused by the broker, the ingest and the API', async (t) => {
  const station = 'HN-00010';
  const { body: media } = await uploadApproved(server, makeTone(join(server.dataDir, 'revoked.wav'), { seconds: 2 }));
  // Within the server's clock tolerance, so a start proof may be true already (the fake clock never gets there).
  const startsAt = clock.now() + 60_000;
  const occurrenceId = await scheduleItem(server, media.id, station, startsAt);
  const gw = await onlineAgent(t, { station, server, clock });
  await gw.waitFor('armed');
  const agent = gw.agent.inspect().ctx;
  const { device, signer } = agent;
  const password = agent.state.enrollment?.mqtt.password as string;
  // Proofs sealed with the gateway's own key, as the gateway (or whoever stole its key) would send them.
  const proof = (kind: PlaybackReport['kind'], extra: Partial<PlaybackReport> = {}) =>
    Buffer.from(
      JSON.stringify(
        seal(
          'report',
          {
            kind,
            station,
            occurrenceId,
            sha256: media.sha256 as string,
            scheduledAt: new Date(startsAt).toISOString(),
            startedAt: new Date(startsAt).toISOString(),
            expectedMs: 2000,
            ...extra,
          },
          signer,
          { now: clock.date(), ttlMs: 86_400_000 },
        ),
      ),
    );
  t.equal(await server.reports.handleReport(device, proof('playback.started')), 'stored', 'before revocation its proofs count');

  const closed = new Promise<void>((resolve) => gw.agent.inspect().ctx.mqtt?.once('close', resolve));
  t.equal((await api(server, 'POST', `/devices/${device}/revoke`)).status, 204);
  await closed;
  t.pass('its live MQTT session is closed at once');
  await t.rejects(deviceClient(server, device, password), /Bad username or password|Not authorized/i, 'its password no longer logs in');

  const reports = await server.db.playbackReport.count();
  const end = proof('playback.completed', { endedAt: new Date(startsAt + 2000).toISOString(), playedMs: 2000 });
  t.equal(await server.reports.handleReport(device, end), 'rejected', 'a validly signed proof is refused');
  const telemetry = seal(
    'telemetry',
    { station, uptimeS: 1, agentVersion: 'x', protocolVersions: [1], diskFreeBytes: 1, cache: { items: 0, bytes: 0 } },
    signer,
    { now: clock.date(), ttlMs: 60_000 },
  );
  t.equal(await server.reports.handleTelemetry(device, Buffer.from(JSON.stringify(telemetry))), 'rejected', 'so is its telemetry');
  t.equal(await server.db.playbackReport.count(), reports, 'nothing stored');
  t.match(
    await server.db.occurrence.findUniqueOrThrow({ where: { id: occurrenceId } }),
    { status: 'playing', playedMs: null },
    'still only started: the end proof changed nothing',
  );
  matchExact(t, await (await fetch(`${server.url}/metrics`)).text(), /loaphuong_reports_total\{result="UNKNOWN_DEVICE"\} [1-9]/);

  t.match(await sendCommand(server, station, { action: 'stop' }), { status: 409, body: { error: { code: 'DEVICE_NOT_ENROLLED' } } });
  t.match(await api(server, 'POST', `/devices/${device}/enrollment-token`), { status: 404 }, 'no new token for it');
  t.match(await api(server, 'POST', `/devices/${device}/revoke`), { status: 404 }, 'revoking twice is an error, not a no-op');
});
