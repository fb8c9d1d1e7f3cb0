// The emergency page in a real browser against the real server and two real gateways: from any page one tap
// on "Khẩn cấp"; a district operator picks the district, a prepared template, sees the exact area (map and
// station count), the words and the warning that a second person must confirm, presses; the alert waits; a
// second operator confirms it from the list, the coverage climbs live ("2 / 15 đang phát") as the gateways
// play it; cancelled in one action. Desktop and phone, no console error or CSP violation, no serious axe finding.
import { join } from 'node:path';
import t from 'tap';
import { systemClock } from '../../edge-agent/clock.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { launchBrowser, SHOTS, signIn, skipWithoutChromium } from '../helpers/browser.ts';
import { stationCoordinatesCsv } from '../helpers/coordinates.ts';
import { api, startTestServer, uploadApproved } from '../helpers/server.ts';

const PASSWORD = 'a-long-password-1';

t.test(
  'a district alert raised, confirmed by a second person, followed live and cancelled in the console',
  { skip: skipWithoutChromium },
  async (t) => {
    const server = await startTestServer();
    t.teardown(() => server.stop());
    const { csv } = await stationCoordinatesCsv(server.db);
    const imported = await fetch(`${server.url}/api/v1/stations/import`, {
      method: 'POST',
      headers: { ...server.auth, 'content-type': 'text/csv' },
      body: csv,
    });
    t.equal(imported.status, 200);
    for (const username of ['truc.badinh', 'pho.badinh'])
      t.equal((await api(server, 'POST', '/users', { username, password: PASSWORD, role: 'district_operator', unit: '001' })).status, 201);
    const { body: siren } = await uploadApproved(server, makeTone(join(server.dataDir, 'coi.wav'), { seconds: 20, frequency: 1200 }));
    t.equal(
      (
        await api(server, 'POST', '/emergency-templates', {
          code: 'bao',
          title: 'Bão khẩn cấp',
          text: 'Bão đang đến, bà con ở trong nhà.',
          unit: '001',
          mediaId: siren.id,
        })
      ).status,
      201,
    );
    const inDistrict = await server.db.station.count({ where: { unit: { parent: { code: '001' } } } });
    const phucXa = await onlineAgent(t, { station: 'HN-00001', server, clock: systemClock });
    const trucBach = await onlineAgent(t, { station: 'HN-00004', server, clock: systemClock });

    const { open, axe, problems } = await launchBrowser(t);
    const desk = await open(1280);
    await signIn(desk, server.url, 'truc.badinh', PASSWORD);
    await desk.getByRole('link', { name: 'Khẩn cấp' }).click();
    await desk.getByRole('heading', { name: 'Khẩn cấp' }).waitFor();
    await desk.getByLabel('Tiêu đề cảnh báo').fill('Bão số 3 đổ bộ');
    await desk.getByRole('checkbox', { name: 'Quận Ba Đình' }).check();
    await desk.getByRole('radio', { name: 'Mẫu soạn sẵn' }).check();
    await desk.locator('select[aria-label="Mẫu soạn sẵn"]').selectOption('bao');
    await desk.getByRole('button', { name: 'Xem trước vùng phát' }).click();
    await desk.getByText(`${inDistrict} đài sẽ phát`).waitFor();
    // The map draws once the district outlines have loaded, which may be after the count is shown.
    await desk
      .locator('section.press circle[data-station]')
      .nth(inDistrict - 1)
      .waitFor();
    t.equal(await desk.locator('section.press circle[data-station]').count(), inDistrict, 'every station of the area on the map');
    t.match(
      await desk.locator('section.press').textContent(),
      /Bão đang đến, bà con ở trong nhà\..*cần người thứ hai xác nhận/s,
      'the words and the rule, before the press',
    );
    await desk.screenshot({ path: join(SHOTS, 'emergency-desktop.png'), fullPage: true });
    t.same((await axe(desk)).serious, [], 'emergency form: no serious accessibility violation');
    await desk.getByRole('button', { name: 'PHÁT CẢNH BÁO' }).click();
    await desk.getByText('Chờ xác nhận', { exact: false }).first().waitFor();
    t.equal(await desk.getByRole('button', { name: 'Xác nhận và phát' }).count(), 0, 'the author cannot confirm it');
    t.notOk(
      phucXa.events.some((e) => e.type === 'started'),
      'nothing airs before the confirmation',
    );

    const second = await open(1280);
    await signIn(second, server.url, 'pho.badinh', PASSWORD);
    await second.getByRole('link', { name: 'Khẩn cấp' }).click();
    await second.getByRole('link', { name: 'Bão số 3 đổ bộ' }).click();
    await second.getByRole('button', { name: 'Xác nhận và phát' }).click();
    for (const gw of [phucXa, trucBach]) await gw.waitFor('started');
    await desk.getByText(`2 / ${inDistrict} đang phát`).waitFor({ timeout: 20_000 });
    t.pass('the coverage follows the gateways without a reload');
    t.match(await desk.locator('table').textContent(), /Chưa tới/, 'stations not reached are listed with why');
    await desk.screenshot({ path: join(SHOTS, 'emergency-alert-desktop.png'), fullPage: true });
    t.same((await axe(desk)).serious, [], 'alert page: no serious accessibility violation');

    desk.once('dialog', (d) => void d.accept());
    await desk.getByRole('button', { name: 'Hủy cảnh báo' }).click();
    await desk.getByText('Đã hủy', { exact: false }).first().waitFor();
    for (const gw of [phucXa, trucBach]) await gw.waitFor('finished', (e) => e.report.reason === 'CANCELLED');
    t.pass('cancelled on every gateway in one action');

    const phone = await open(375);
    await signIn(phone, server.url, 'pho.badinh', PASSWORD);
    await phone.getByRole('link', { name: 'Khẩn cấp' }).click();
    await phone.getByRole('heading', { name: 'Phát cảnh báo mới' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'emergency-phone.png'), fullPage: true });
    t.same(problems, [], 'no console error or CSP violation');
  },
);
