// The live view in a real browser: coordinates imported from a CSV through the page, every seeded station on
// the map or listed beside it, real gateways coming online, one stopped and its colour changing within 2 s
// without a reload; then a station's page with its heartbeat facts, a self-test with its measured result, and
// a command the gateway refuses shown as refused with its reason.
import { join } from 'node:path';
import t from 'tap';
import { systemClock } from '../../edge-agent/clock.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { launchBrowser, SHOTS, signIn, skipWithoutChromium } from '../helpers/browser.ts';
import { stationCoordinatesCsv } from '../helpers/coordinates.ts';
import { startTestServer, TEST_ADMIN_PASSWORD } from '../helpers/server.ts';

t.test('the map shows every station and follows a gateway that goes away', { skip: skipWithoutChromium }, async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const total = await server.db.station.count();
  // Two stations of Sóc Sơn have no coordinates yet: they are listed beside the map.
  const missing = new Set(
    (await server.db.station.findMany({ where: { unit: { parent: { code: '016' } } }, take: 2, orderBy: { code: 'asc' } })).map(
      (s) => s.code,
    ),
  );
  const { csv, rows } = await stationCoordinatesCsv(server.db, (code) => !missing.has(code));
  t.equal(rows, total - 2);

  const phucXa = await onlineAgent(t, { station: 'HN-00001', server, clock: systemClock });
  const trucBach = await onlineAgent(t, { station: 'HN-00004', server, clock: systemClock });
  await phucXa.waitFor('telemetry');

  const { open, axe, problems } = await launchBrowser(t);
  const page = await open(1280);
  await signIn(page, server.url, 'admin', TEST_ADMIN_PASSWORD);
  await page.getByRole('link', { name: 'Trực tiếp', exact: true }).click();
  await page.getByRole('heading', { name: 'Trực tiếp', exact: true }).waitFor();
  await page.getByText('Đang cập nhật trực tiếp.').waitFor();
  await page.getByRole('heading', { name: `Trạm chưa có tọa độ (${total})` }).waitFor();
  t.pass('before the import every station is listed beside the map');

  await page
    .getByLabel('Nhập tọa độ từ tệp CSV')
    .setInputFiles({ name: 'toa-do-tram.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByText(`Đã cập nhật ${rows} trạm, 0 trạm không đổi.`).waitFor();
  await page
    .locator(`circle[data-station]`)
    .nth(rows - 1)
    .waitFor();
  t.equal(await page.locator('circle[data-station]').count(), rows, 'every station with coordinates is on the map');
  t.same((await page.locator('ul.unplaced li').allTextContents()).length, 2, 'the two without are listed beside it');
  for (const code of missing) t.equal(await page.locator(`ul.unplaced li[data-station="${code}"]`).count(), 1, `${code} listed`);
  t.equal(await page.locator('path.district').count(), 30, "Hanoi's 30 districts of 2024 drawn");

  const dot = (code: string, state: string) => page.locator(`circle[data-station="${code}"][data-state="${state}"]`);
  await dot('HN-00001', 'online').waitFor();
  await dot('HN-00004', 'online').waitFor();
  t.equal(await page.locator('[data-count="online"]').textContent(), '2');
  t.equal(await page.locator('[data-count="offline"]').textContent(), String(total - 2));
  await page.screenshot({ path: join(SHOTS, 'live-desktop.png') });
  t.same((await axe(page)).serious, [], 'live view: no serious accessibility violation');

  // The gateway at Trúc Bạch stops (its session ends, its last state says offline): the dot turns grey in place.
  const stoppedAt = performance.now();
  await trucBach.agent.stop();
  await dot('HN-00004', 'offline').waitFor({ timeout: 2000 });
  t.pass(`offline on the map ${Math.round(performance.now() - stoppedAt)} ms after the gateway stopped, without a reload`);
  t.equal(await page.locator('table.stations tr[data-station="HN-00004"]').getAttribute('data-state'), 'offline', 'the list agrees');

  // Phúc Xá's page, from its dot.
  await dot('HN-00001', 'online').click();
  await page.getByRole('heading', { name: /Phúc Xá/ }).waitFor();
  const telemetry = await phucXa.waitFor('telemetry');
  t.equal(await page.locator('[data-fact="version"]').textContent(), telemetry.body.agentVersion);
  t.match(await page.locator('[data-fact="disk"]').textContent(), /\d+ MB/);
  t.match(await page.locator('[data-fact="clock"]').textContent(), /-?\d+ ms/);
  t.equal(await page.locator('svg.timeline rect.up').count(), 1, 'online since its enrollment: one period');

  await page.getByRole('button', { name: 'Tự kiểm tra' }).click();
  const selfTest = page.locator('output[data-command="self-test"]');
  await selfTest.waitFor({ timeout: 30_000 });
  t.match(await selfTest.getAttribute('class'), 'ok');
  t.match(await selfTest.textContent(), /Thiết bị đã thực hiện\..*rmsDbfs/, 'the measured level of the test tone is shown');

  // The server thinks the gateway has a second zone it does not have: the command is refused, and says so.
  const device = await server.db.device.findFirstOrThrow({ where: { station: { code: 'HN-00001' } } });
  await server.db.zone.create({ data: { deviceId: device.id, code: 'z9', name: 'Loa chợ' } });
  await page.reload();
  await page.getByLabel('Vùng loa').selectOption({ label: 'Loa chợ' });
  await page.getByRole('button', { name: 'Đặt âm lượng' }).click();
  const volume = page.locator('output[data-command="volume"]');
  await volume.waitFor({ timeout: 30_000 });
  t.equal(await volume.getAttribute('class'), 'refused');
  t.match(await volume.textContent(), /DEVICE_REFUSED.*UNKNOWN_ZONE/, "the gateway's reason, not a success");
  await page.screenshot({ path: join(SHOTS, 'station-desktop.png'), fullPage: true });
  t.same((await axe(page)).serious, [], 'station page: no serious accessibility violation');

  const phone = await open(390);
  await signIn(phone, server.url, 'admin', TEST_ADMIN_PASSWORD);
  await phone.goto(`${server.url}/#/live`);
  await phone
    .locator('circle[data-station]')
    .nth(rows - 1)
    .waitFor();
  await phone.screenshot({ path: join(SHOTS, 'live-phone.png'), fullPage: false });
  // The refused command's 422 is the one error the browser logs, as it should.
  t.same(
    problems.filter((p) => !/status of 422/.test(p)),
    [],
    'no other console error or CSP violation',
  );
});
