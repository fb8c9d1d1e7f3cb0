// The compliance page in a real browser, as the provincial office uses it: yesterday's figures for Hà Nội,
// drilled down to Sóc Sơn, a commune, its station and its airings, each one that did not air with its reason;
// a day of proofs verified; the exports (PDF too) opened with the session (no token to paste); the rates over
// time for a day and for twelve months; the audit view of the officer's own reads; an alert taken and
// resolved by the district operator on duty.
import { join } from 'node:path';
import t from 'tap';
import { launchBrowser, SHOTS, signIn, skipWithoutChromium } from '../helpers/browser.ts';
import { seedComplianceDay } from '../helpers/compliance-day.ts';
import { api, startTestServer } from '../helpers/server.ts';

const PASSWORD = 'a-long-password-1';

t.test(
  'a provincial officer answers “what aired where, in full, on time, and why not” on one screen',
  { skip: skipWithoutChromium },
  async (t) => {
    const server = await startTestServer();
    t.teardown(() => server.stop());
    t.equal((await api(server, 'POST', '/users', { username: 'so.ttt', password: PASSWORD, role: 'auditor', unit: '01' })).status, 201);
    // Yesterday in Hanoi.
    const today = new Date(Date.now() + 7 * 3600_000).toISOString().slice(0, 10);
    const from = new Date(Date.parse(`${today}T00:00:00+07:00`) - 86_400_000);
    const yesterday = new Date(from.getTime() + 7 * 3600_000).toISOString().slice(0, 10);
    const { stations } = await seedComplianceDay(server, from);
    const [a] = stations;
    if (!a) throw new Error('no station');
    const commune = await server.db.unit.findUniqueOrThrow({ where: { id: a.unitId } });

    const { open, axe, problems } = await launchBrowser(t);
    const page = await open(1280);
    await signIn(page, server.url, 'so.ttt', PASSWORD);
    await page.getByRole('link', { name: 'Kết quả phát' }).click();
    await page.getByRole('heading', { name: 'Kết quả phát' }).waitFor();
    await page.getByRole('button', { name: 'Hôm qua' }).click();
    t.equal(await page.getByLabel('Từ ngày').inputValue(), yesterday);
    // The city: Sóc Sơn's line holds the day's 9 airings.
    const socSon = page.locator('table.report tbody tr', { hasText: 'Huyện Sóc Sơn' });
    await socSon.waitFor();
    t.match(
      await socSon.textContent(),
      /9 theo lịch: 4 phát đủ, 1 muộn, 0 không đủ, 3 không phát, 1 bỏ qua.*62\.5 %.*50\.0 %.*37\.5 %.*25\.0 %/,
    );
    await page.screenshot({ path: join(SHOTS, 'compliance-desktop.png'), fullPage: true });
    t.same((await axe(page)).serious, [], 'no serious accessibility violation');
    await socSon.getByRole('button', { name: 'Huyện Sóc Sơn' }).click();
    // The district, then the commune whose station missed 3 of 4: 25 %, never 100 %.
    const line = page.locator('table.report tbody tr', { hasText: commune.name });
    await line.waitFor();
    t.match(await line.textContent(), /4 theo lịch: 1 phát đủ, 0 muộn, 0 không đủ, 3 không phát.*25\.0 %.*25\.0 %.*25\.0 %/);
    await line.getByRole('button', { name: commune.name }).click();
    await page.locator('nav.crumbs', { hasText: `Thành phố Hà Nội › Huyện Sóc Sơn › ${commune.name}` }).waitFor();
    await page.getByRole('button', { name: a.name }).click();
    // The station's airings, each with its status and reason.
    const rows = page.locator('table.airings tbody tr');
    await rows.first().waitFor();
    t.same(
      (await rows.allTextContents()).map((r) => r.replace(/Kiểm tra chữ ký$/, '').replace(/^.*?Bản tin sáng \(Thường\)/, '')),
      ['Đã phát', 'Không phátTrạm mất kết nối', 'Không phátTrạm mất kết nối', 'Không phátLỗi thiết bị'],
    );
    await rows.first().getByRole('button', { name: 'Kiểm tra chữ ký' }).click();
    await rows
      .first()
      .getByText(/Hợp lệ \(0 bằng chứng trong ngày\)/)
      .waitFor();
    await page.screenshot({ path: join(SHOTS, 'compliance-station-desktop.png'), fullPage: true });

    // Exports open with the session cookie, as links in the browser.
    await page.locator('nav.crumbs').getByRole('button', { name: 'Huyện Sóc Sơn' }).click();
    const printable = page.getByRole('link', { name: 'Bản in' });
    await printable.waitFor();
    const html = await page.request.get(new URL((await printable.getAttribute('href')) ?? '', server.url).toString());
    t.equal(html.status(), 200);
    t.match(await html.text(), /Huyện Sóc Sơn \(016\)/);
    const csv = await page.request.get(
      new URL((await page.getByRole('link', { name: 'Nhật ký phát (CSV)' }).getAttribute('href')) ?? '', server.url).toString(),
    );
    t.equal(csv.status(), 200);
    t.match(await csv.text(), /Trạm mất kết nối/);
    const pdf = await page.request.get(
      new URL((await page.getByRole('link', { name: 'PDF' }).getAttribute('href')) ?? '', server.url).toString(),
    );
    t.equal(pdf.status(), 200);
    t.equal(pdf.headers()['content-type'], 'application/pdf');
    t.match((await pdf.body()).subarray(0, 5).toString(), '%PDF-', 'a PDF, opened with the session');

    // Rates over time: the day's point in the chart's table; twelve months are one request, drawn by month.
    await page.locator('figure.rate-chart canvas').first().waitFor();
    t.match(await page.locator(`table.series tr[data-period="${yesterday}"]`).textContent(), /62\.5 %.*50\.0 %.*37\.5 %/);
    await page.getByRole('button', { name: '12 tháng qua' }).click();
    await page.locator('figure.rate-chart figcaption', { hasText: 'theo tháng' }).waitFor();
    t.match(
      await page.locator(`table.series tr[data-period="${yesterday.slice(0, 7)}"]`).textContent(),
      /62\.5 %/,
      'the month of the seeded day',
    );
    await page.screenshot({ path: join(SHOTS, 'compliance-year-desktop.png'), fullPage: true });

    // The audit view: the officer's own reads of the evidence, within the city.
    await page.getByRole('link', { name: 'Nhật ký kiểm tra' }).click();
    await page.getByRole('heading', { name: 'Nhật ký kiểm tra' }).waitFor();
    await page.getByLabel('Thao tác (một phần đường dẫn)').fill('compliance/report');
    await page.getByRole('button', { name: 'Tìm', exact: true }).click();
    const auditRows = page.locator('table.audit tbody tr');
    // The unfiltered rows stay on screen until the filtered answer replaces them: wait for that answer.
    await auditRows.first().filter({ hasText: 'compliance/report' }).waitFor();
    t.match(await auditRows.first().textContent(), /so\.ttt \(auditor\).*GET \/api\/v1\/compliance\/report/);
    t.ok((await auditRows.count()) >= 5, 'each report read is there');
    t.same((await axe(page)).serious, [], 'audit: no serious accessibility violation');
    await page.screenshot({ path: join(SHOTS, 'audit-desktop.png'), fullPage: true });

    // Alerts: a district operator on duty sees the outage in Vietnamese with Hanoi times, takes it and closes it.
    t.equal(
      (await api(server, 'POST', '/users', { username: 'truc.socson', password: PASSWORD, role: 'district_operator', unit: '016' })).status,
      201,
    );
    const raisedAt = new Date(from.getTime() + 7 * 3600_000);
    const alert = await server.db.alert.create({
      data: {
        stationId: a.id,
        kind: 'offline',
        message: `${a.code}: offline`,
        count: 2,
        raisedAt,
        lastAt: new Date(raisedAt.getTime() + 3600_000),
      },
    });
    const duty = await open(1280);
    await signIn(duty, server.url, 'truc.socson', PASSWORD);
    t.equal(await duty.getByRole('link', { name: 'Nhật ký kiểm tra' }).count(), 0, 'an operator has no audit view');
    await duty.getByRole('link', { name: 'Cảnh báo' }).click();
    const card = duty.locator('.cards li', { hasText: a.name });
    await card.waitFor();
    t.match(
      await card.textContent(),
      new RegExp(
        `Mất kết nối · Mới.*${a.name} \\(${commune.name}\\): mất kết nối khi đến giờ phát, từ ${yesterday} 07:00, 2 lần, lần cuối ${yesterday} 08:00 \\(giờ Hà Nội\\)`,
      ),
    );
    await duty.screenshot({ path: join(SHOTS, 'alerts-desktop.png'), fullPage: true });
    t.same((await axe(duty)).serious, [], 'alerts: no serious accessibility violation');
    await card.getByRole('button', { name: 'Tiếp nhận' }).click();
    await duty.getByLabel('Trạng thái').selectOption('');
    await card.getByText('truc.socson tiếp nhận lúc').waitFor();
    await card.getByLabel('Ghi chú khi xử lý').fill('Đã thay bộ nguồn');
    await card.getByRole('button', { name: 'Đã xử lý xong' }).click();
    await card.getByText(/truc\.socson xử lý lúc .*\(Đã thay bộ nguồn\)/).waitFor();
    t.match(await server.db.alert.findUniqueOrThrow({ where: { id: alert.id } }), {
      status: 'resolved',
      acknowledgedBy: 'truc.socson',
      resolvedBy: 'truc.socson',
      note: 'Đã thay bộ nguồn',
    });

    // The same page sets where alerts go: an e-mail address for the district's alerts.
    await duty.getByLabel('Địa chỉ thư hoặc URL').fill('truc-ban@socson.example');
    await duty.getByRole('button', { name: 'Thêm nơi nhận' }).click();
    await duty.getByText(/Thư điện tử: truc-ban@socson\.example · Huyện Sóc Sơn · chưa gửi lần nào/).waitFor();
    t.match(await server.db.notificationChannel.findFirstOrThrow({ include: { unit: true } }), {
      kind: 'email',
      address: 'truc-ban@socson.example',
      unit: { code: '016' },
    });
    await duty.screenshot({ path: join(SHOTS, 'alerts-desktop.png'), fullPage: true });

    const phone = await open(375);
    await signIn(phone, server.url, 'so.ttt', PASSWORD);
    await phone.goto(`${server.url}/#/compliance`);
    await phone.locator('table.report tbody tr').first().waitFor();
    await phone.screenshot({ path: join(SHOTS, 'compliance-phone.png'), fullPage: true });
    t.equal(
      await phone.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth'),
      false,
      'nothing wider than the phone',
    );
    t.same(problems, [], 'no console error and no CSP violation');
  },
);
