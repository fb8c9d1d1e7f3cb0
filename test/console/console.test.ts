// The operator console in a real browser (Debian's chromium through playwright-core) against the real
// server: an operator signs in, uploads two files and watches both finish, submits them; an approver
// approves one and rejects one; the operator schedules weekdays at 06:00 Hanoi time, previews, saves, sees
// the airings in the week at 06:00 on weekdays only, and pauses it. At desktop and at phone width (375 px), with no CSP violation, no console error, and no
// serious accessibility violation (axe-core). Screenshots of each page go to console/screenshots/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import t from 'tap';
import { makeTone } from '../helpers/audio.ts';
import { api, startTestServer } from '../helpers/server.ts';

const CHROMIUM = '/usr/bin/chromium';
// The committed screenshots are made with LP_SCREENSHOTS=1; an ordinary run writes them to a temporary folder.
const SHOTS =
  process.env.LP_SCREENSHOTS === '1' ? join(import.meta.dirname, '../../console/screenshots') : mkdtempSync(join(tmpdir(), 'lp-shots-'));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'a-long-password-1';

t.test(
  'an operator’s and an approver’s day in the console',
  { skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium; .ci/run installs it)' },
  async (t) => {
    const server = await startTestServer();
    t.teardown(() => server.stop());
    for (const [username, role, unit] of [
      ['operator.socson', 'district_operator', '016'],
      ['approver.socson', 'approver', '016'],
    ])
      t.equal((await api(server, 'POST', '/users', { username, password: PASSWORD, role, unit })).status, 201);
    mkdirSync(SHOTS, { recursive: true });
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    t.teardown(() => browser.close());
    const problems: string[] = [];
    const open = async (width: number) => {
      const context = await browser.newContext({ viewport: { width, height: width < 600 ? 800 : 900 }, locale: 'vi-VN' });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`${width}px: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`${width}px: ${e.message}`));
      return page;
    };
    const signIn = async (page: Page, username: string) => {
      await page.goto(`${server.url}/`);
      await page.getByLabel('Tên đăng nhập').fill(username);
      await page.getByLabel('Mật khẩu').fill(PASSWORD);
      await page.getByRole('button', { name: 'Đăng nhập' }).click();
      await page.getByRole('heading', { name: 'Thư viện' }).waitFor();
    };
    /** axe-core in a copy of the page's state that bypasses the CSP (axe is injected inline; the page itself never is). */
    const axe = async (page: Page, name: string) => {
      const context = await browser.newContext({
        bypassCSP: true,
        viewport: page.viewportSize() ?? undefined,
        storageState: await page.context().storageState(),
      });
      const copy = await context.newPage();
      await copy.goto(page.url());
      await copy.waitForSelector('main h1');
      await copy.addScriptTag({ content: AXE });
      const found = await copy.evaluate<{ id: string; impact: string; nodes: number }[]>(
        `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`,
      );
      await context.close();
      const serious = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      t.same(serious, [], `${name}: no serious accessibility violation (${found.length} minor)`);
    };

    const desk = await open(1280);
    await desk.goto(`${server.url}/`);
    await desk.getByRole('button', { name: 'Đăng nhập' }).waitFor();
    await desk.screenshot({ path: join(SHOTS, 'login-desktop.png') });
    await signIn(desk, 'operator.socson');
    t.match(await desk.textContent('header'), /operator\.socson · Huyện Sóc Sơn/, 'who and where, by name');

    // Two files at once: each with its bytes, then the server's processing, to the end.
    const files = [
      makeTone(join(server.dataDir, 'ban-tin-sang.wav'), { seconds: 2, frequency: 500 }),
      makeTone(join(server.dataDir, 'ban-tin-chieu.wav'), { seconds: 2, frequency: 700 }),
    ];
    await desk.getByLabel('Chọn tệp (có thể chọn nhiều)').setInputFiles(files);
    await desk.getByText('Xong').nth(1).waitFor({ timeout: 60_000 });
    t.equal(await desk.locator('.uploads progress').count(), 2, 'two progress bars');
    await desk.getByRole('cell', { name: 'ban-tin-chieu.wav' }).waitFor();
    for (let i = 0; i < 2; i++)
      await desk
        .getByRole('button', { name: 'Gửi duyệt' })
        .first()
        .click()
        .then(() => desk.waitForTimeout(0));
    await desk.getByRole('cell', { name: 'Chờ duyệt' }).nth(1).waitFor();
    await desk.screenshot({ path: join(SHOTS, 'library-desktop.png'), fullPage: true });
    await axe(desk, 'library');

    // The approver approves one and rejects the other, with a reason.
    const approver = await open(1280);
    await signIn(approver, 'approver.socson');
    await approver.getByRole('link', { name: 'Duyệt bản tin' }).click();
    await approver.getByRole('heading', { name: 'ban-tin-sang.wav' }).waitFor();
    await approver.screenshot({ path: join(SHOTS, 'approvals-desktop.png'), fullPage: true });
    await axe(approver, 'approvals');
    const card = (title: string) => approver.locator('.cards li', { hasText: title });
    await card('ban-tin-sang.wav').getByRole('button', { name: 'Duyệt' }).click();
    await card('ban-tin-sang.wav').waitFor({ state: 'detached' });
    await card('ban-tin-chieu.wav').getByLabel('Lý do từ chối').fill('Sai tên xã');
    await card('ban-tin-chieu.wav').getByRole('button', { name: 'Từ chối' }).click();
    await approver.getByText('Không có bản tin nào chờ duyệt.').waitFor();
    const statuses = (await api(server, 'GET', '/media?limit=10')).body.items as { title: string; status: string; statusReason?: string }[];
    t.same(statuses.map((m) => [m.title, m.status]).sort(), [
      ['ban-tin-chieu.wav', 'rejected'],
      ['ban-tin-sang.wav', 'approved'],
    ]);

    // Weekdays at 06:00 Hanoi time at one commune of Sóc Sơn, previewed, saved, paused.
    await desk.getByRole('link', { name: 'Lịch phát' }).click();
    await desk.getByRole('heading', { name: 'Lập lịch mới' }).waitFor();
    const tomorrow = new Date(Date.now() + 86_400_000 + 7 * 3600_000).toISOString().slice(0, 10);
    const week = new Date(Date.now() + 8 * 86_400_000 + 7 * 3600_000).toISOString().slice(0, 10);
    await desk.getByLabel('Bản tin').selectOption({ label: 'ban-tin-sang.wav' });
    const [commune] = (await api(server, 'GET', '/stations?unit=016&limit=1')).body.items as { code: string }[];
    await desk.getByLabel('Đài (mã, cách nhau bằng dấu phẩy)').fill(commune?.code ?? '');
    await desk.getByLabel('Ngày', { exact: true }).fill(tomorrow);
    await desk.getByLabel('Giờ (giờ Hà Nội)').fill('06:00');
    await desk.getByLabel('Lặp lại').selectOption('weekdays');
    await desk.getByLabel('Đến ngày').fill(week);
    await desk.getByRole('button', { name: 'Xem trước' }).click();
    await desk.getByText(/1 đài, \d+ lượt phát/).waitFor();
    t.match(await desk.textContent('.preview'), /Không lượt nào bị quy định từ chối/);
    await desk.getByRole('button', { name: 'Lưu lịch' }).click();
    await desk.getByText('Đã lưu lịch.').waitFor();
    const row = desk.locator('tbody tr', { hasText: 'ban-tin-sang.wav' });
    t.match(await row.textContent(), /06:00/, 'listed at 06:00, Hanoi time');
    await desk.screenshot({ path: join(SHOTS, 'schedules-desktop.png'), fullPage: true });
    await axe(desk, 'schedules');
    // The week: the airings at 06:00 Hanoi time, on weekdays.
    await desk.getByRole('link', { name: 'Lịch tuần' }).click();
    await desk.getByRole('heading', { name: 'Lịch tuần' }).waitFor();
    const airings = desk.locator('.week .airing', { hasText: 'ban-tin-sang.wav' });
    await airings.first().waitFor();
    const texts = await airings.allTextContents();
    t.ok(texts.length >= 3 && texts.every((x) => x.startsWith('06:00')), `${texts.length} airings this week, each at 06:00`);
    const days = await desk
      .locator('.week .day', { has: desk.locator('.airing') })
      .locator('h2')
      .allTextContents();
    t.notOk(
      days.some((d) => /Thứ Bảy|Chủ Nhật/i.test(d)),
      `on weekdays only: ${days.join(', ')}`,
    );
    await desk.screenshot({ path: join(SHOTS, 'calendar-desktop.png'), fullPage: true });
    await axe(desk, 'calendar');
    await desk.getByRole('link', { name: 'Lịch phát' }).click();
    await row.getByRole('button', { name: 'Tạm dừng' }).click();
    await row.getByText('Tạm dừng').first().waitFor();
    const [schedule] = (await api(server, 'GET', '/schedules')).body.items as { status: string; rrule: string; held: number }[];
    t.match(
      schedule,
      { status: 'paused', rrule: /^FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=\d{8}T165959Z$/ },
      'the form built the rule; the pause reached the server',
    );
    t.ok((schedule?.held ?? 0) >= 4, `${schedule?.held} airings held`);

    // A phone, 375 px wide: the same pages, and English on request.
    const phone = await open(375);
    await phone.goto(`${server.url}/`);
    await phone.getByRole('button', { name: 'Đăng nhập' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'login-phone.png') });
    await signIn(phone, 'operator.socson');
    await phone.screenshot({ path: join(SHOTS, 'library-phone.png'), fullPage: true });
    await phone.getByRole('link', { name: 'Lịch phát' }).click();
    await phone.getByRole('heading', { name: 'Lập lịch mới' }).waitFor();
    await phone.screenshot({ path: join(SHOTS, 'schedules-phone.png'), fullPage: true });
    await axe(phone, 'schedules at 375 px');
    await phone.getByRole('link', { name: 'Lịch tuần' }).click();
    await phone.locator('.week .airing').first().waitFor();
    await phone.screenshot({ path: join(SHOTS, 'calendar-phone.png'), fullPage: true });
    await axe(phone, 'calendar at 375 px');
    await phone.getByRole('link', { name: 'Lịch phát' }).click();
    const scrolls = await phone.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth');
    t.equal(scrolls, false, 'nothing is wider than the phone');
    await phone.getByRole('button', { name: 'English' }).click();
    await phone.getByRole('heading', { name: 'New schedule' }).waitFor();
    t.pass('English on request');
    await phone.getByRole('button', { name: 'Sign out' }).click();
    await phone.getByRole('button', { name: 'Sign in' }).waitFor();

    t.same(problems, [], 'no console error and no CSP violation on any page');
  },
);
