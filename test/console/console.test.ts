// The operator console in a real browser (Debian's chromium through playwright-core) against the real
// server: an operator signs in, uploads two files and watches both finish, records 3 s from a (fake)
// microphone, types a bulletin and listens to it before saving, searches without diacritics, opens an item
// (level strip) and edits it, submits; an approver sees the history, approves one and rejects one; the
// operator picks a rural commune from the unit tree, schedules weekdays at 06:00 Hanoi time, previews every
// airing, saves and sees a real gateway receive it, sees the week at 06:00 on weekdays only, cancels one
// airing from the day view, moves the schedule to 06:30 from the calendar, and pauses it; the gateway's
// manifest follows each change. At desktop and at phone width (375 px), with no CSP violation, no console error, and no
// serious accessibility violation (axe-core). Screenshots of each page go to console/screenshots/.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import t from 'tap';
import { systemClock } from '../../edge-agent/clock.ts';
import { onlineAgent } from '../helpers/agent.ts';
import { makeTone } from '../helpers/audio.ts';
import { launchBrowser, SHOTS, signIn as signInAt, skipWithoutChromium } from '../helpers/browser.ts';
import { api, startTestServer } from '../helpers/server.ts';

const PASSWORD = 'a-long-password-1';

t.test('an operator’s and an approver’s day in the console', { skip: skipWithoutChromium }, async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  for (const [username, role, unit] of [
    ['operator.socson', 'district_operator', '016'],
    ['approver.socson', 'approver', '016'],
  ])
    t.equal((await api(server, 'POST', '/users', { username, password: PASSWORD, role, unit })).status, 201);
  const { open, axe: axeOf, problems } = await launchBrowser(t);
  const signIn = (page: Page, username: string) => signInAt(page, server.url, username, PASSWORD);
  const axe = async (page: Page, name: string) => {
    const { serious, all } = await axeOf(page);
    t.same(serious, [], `${name}: no serious accessibility violation (${all} minor)`);
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
  await desk.locator('.uploads li', { hasText: 'Xong' }).nth(1).waitFor({ timeout: 60_000 });
  t.equal(await desk.locator('.uploads progress').count(), 2, 'two progress bars');
  await desk.getByRole('button', { name: 'ban-tin-chieu.wav' }).waitFor();

  // 3 s from the (fake) microphone, listened to, named, uploaded like a file.
  const recorder = desk.locator('.panel', { has: desk.getByRole('heading', { name: 'Ghi âm' }) });
  await recorder.getByRole('button', { name: 'Bắt đầu ghi âm' }).click();
  await recorder.getByText(/Đang ghi [3-9] s/).waitFor({ timeout: 20_000 });
  await recorder.getByRole('button', { name: 'Dừng ghi' }).click();
  await recorder.locator('audio').waitFor();
  await recorder.getByLabel('Tiêu đề').fill('Họp dân tổ 5');
  await recorder.getByRole('button', { name: 'Tải bản ghi lên' }).click();
  await desk
    .locator('.uploads li', { hasText: 'Họp dân tổ 5' })
    .getByText('Xong')
    .waitFor({ timeout: 60_000 })
    .catch(async (e) => {
      console.error('DEBUG', await desk.locator('.uploads').textContent());
      throw e;
    });
  const recorded = await server.db.media.findFirstOrThrow({ where: { sourceName: { startsWith: 'Họp dân tổ 5' } } });
  t.ok(recorded.durationMs >= 2500 && recorded.durationMs <= 8000, `the recording lasts ${recorded.durationMs} ms`);

  // A typed bulletin, listened to before saving (the preview stores nothing), then saved.
  const tts = desk.locator('.panel', { has: desk.getByRole('heading', { name: 'Soạn bản tin đọc tự động' }) });
  await tts.getByLabel('Tiêu đề').fill('Thông báo tiêm chủng');
  await tts.getByLabel('Nội dung cần đọc').fill('Trạm y tế xã thông báo: sáng thứ Hai tiêm chủng mở rộng cho trẻ em.');
  const stored = await server.db.media.count();
  await tts.getByRole('button', { name: 'Nghe thử' }).click();
  const heard = tts.locator('audio');
  await heard.waitFor();
  const seconds = await heard.evaluate(
    (el) =>
      new Promise<number>((resolve) => {
        // (the root tsconfig has no DOM types: the element as far as this test reads it)
        const a = el as unknown as { readyState: number; duration: number; addEventListener(e: string, f: () => void): void };
        if (a.readyState >= 1) resolve(a.duration);
        else a.addEventListener('loadedmetadata', () => resolve(a.duration));
      }),
  );
  t.ok(seconds > 2, `the preview plays ${seconds} s of speech`);
  t.equal(await server.db.media.count(), stored, 'listening stored nothing');
  await tts.getByRole('button', { name: 'Lưu bản tin' }).click();
  await tts.getByText('Đã lưu bản tin “Thông báo tiêm chủng”').waitFor({ timeout: 60_000 });
  t.equal(await server.db.media.count(), stored + 1, 'saving stored it');

  // Search without diacritics; open the recording: level strip, metadata edited.
  await desk.getByLabel('Tìm bản tin').fill('hop dan');
  await desk.getByText('Tìm thấy 1 bản tin').waitFor();
  await desk.getByRole('button', { name: /^Họp dân tổ 5/ }).click();
  await desk.locator('svg.levels').waitFor();
  const bars = await desk
    .locator('svg.levels rect.rms')
    .evaluateAll((rects) => rects.map((r) => Number((r as unknown as { getAttribute(name: string): string }).getAttribute('height'))));
  // The fake microphone beeps once a second: loud slices with silence between, as the strip must show.
  t.ok(
    bars.length >= 25 && bars.filter((h) => h > 20).length >= 3 && bars.filter((h) => h === 0).length >= 10,
    `a level strip that follows the beeps: ${bars.map(Math.round).join(' ')}`,
  );
  await desk.locator('form.meta').getByLabel('Tiêu đề').fill('Họp dân tổ dân phố số 5');
  await desk.locator('form.meta').getByLabel('Chuyên mục').selectOption('announcement');
  await desk.getByRole('button', { name: 'Lưu thay đổi' }).click();
  await desk.locator('.detail').getByText('Đã lưu thông tin bản tin.').waitFor();
  t.match(await server.db.media.findUniqueOrThrow({ where: { id: recorded.id } }), {
    title: 'Họp dân tổ dân phố số 5',
    category: 'announcement',
  });
  await desk.screenshot({ path: join(SHOTS, 'library-item-desktop.png'), fullPage: true });
  await desk.getByLabel('Tìm bản tin').fill('');
  await desk.getByText('Tìm thấy 4 bản tin').waitFor();
  for (const title of ['ban-tin-sang.wav', 'ban-tin-chieu.wav'])
    await desk.locator('tbody tr', { hasText: title }).getByRole('button', { name: 'Gửi duyệt' }).click();
  await desk.getByRole('cell', { name: 'Chờ duyệt' }).nth(1).waitFor();
  await desk.screenshot({ path: join(SHOTS, 'library-desktop.png'), fullPage: true });
  await axe(desk, 'library');

  // The approver's queue: listen, history, approve one, reject the other with a reason.
  const approver = await open(1280);
  await signIn(approver, 'approver.socson');
  await approver.getByRole('link', { name: 'Duyệt bản tin' }).click();
  await approver.getByRole('heading', { name: 'ban-tin-sang.wav' }).waitFor();
  const card = (title: string) => approver.locator('.cards li', { hasText: title });
  await card('ban-tin-sang.wav').getByText('Lịch sử').click();
  await card('ban-tin-sang.wav')
    .getByText(/operator\.socson: Nháp → Chờ duyệt/)
    .waitFor();
  await approver.screenshot({ path: join(SHOTS, 'approvals-desktop.png'), fullPage: true });
  await axe(approver, 'approvals');
  await card('ban-tin-sang.wav').getByRole('button', { name: 'Duyệt' }).click();
  await card('ban-tin-sang.wav').waitFor({ state: 'detached' });
  await card('ban-tin-chieu.wav').getByLabel('Lý do từ chối').fill('Sai tên xã');
  await card('ban-tin-chieu.wav').getByRole('button', { name: 'Từ chối' }).click();
  await approver.getByText('Không có bản tin nào chờ duyệt.').waitFor();
  const statuses = (await api(server, 'GET', '/media?status=approved&limit=10')).body.items as { title: string }[];
  t.same(
    statuses.map((m) => m.title),
    ['ban-tin-sang.wav'],
  );
  t.match(await server.db.media.findFirstOrThrow({ where: { title: 'ban-tin-chieu.wav' } }), {
    status: 'rejected',
    statusReason: 'Sai tên xã',
  });

  // A real gateway at one rural commune of Sóc Sơn: its manifest follows every change made in the browser.
  const commune = ((await api(server, 'GET', '/stations?unit=016&limit=100')).body.items as { code: string; unitName: string }[]).find(
    (s) => s.unitName.startsWith('Xã '),
  );
  if (!commune) throw new Error('no rural commune in Sóc Sơn');
  const gw = await onlineAgent(t, { station: commune.code, server, clock: systemClock });
  // What the gateway airs: the manifest last published to it and the group plans it names ([P-3.10]), at
  // their current versions.
  const applied = async (why: string) => {
    const { version } = await server.db.manifestDelivery.findFirstOrThrow({
      where: { station: { code: commune.code } },
      orderBy: { version: 'desc' },
    });
    const plans = new Map(
      (await server.db.groupPlan.findMany({ select: { version: true, unit: { select: { code: true } } } })).map((p) => [
        p.unit.code,
        p.version,
      ]),
    );
    const entries = await server.db.occurrence.count({
      where: { station: { code: commune.code }, status: 'scheduled', startsAt: { lt: new Date(Date.now() + 7 * 86_400_000) } },
    });
    await gw.waitFor(
      'plan',
      (e) => e.version === version && e.entries === entries && e.groups.every((g) => plans.get(g.unit) === g.version),
      30_000,
    );
    t.pass(`the gateway applied manifest ${version} and its group plans with ${entries} airings: ${why}`);
    return entries;
  };

  // Weekdays at 06:00 Hanoi time at that commune, picked from the unit tree by a search without diacritics.
  await desk.getByRole('link', { name: 'Lịch phát' }).click();
  await desk.getByRole('heading', { name: 'Lập lịch mới' }).waitFor();
  const tomorrow = new Date(Date.now() + 86_400_000 + 7 * 3600_000).toISOString().slice(0, 10);
  const week = new Date(Date.now() + 8 * 86_400_000 + 7 * 3600_000).toISOString().slice(0, 10);
  await desk.getByRole('combobox', { name: /^Bản tin/ }).selectOption({ label: 'ban-tin-sang.wav' });
  const folded = commune.unitName
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/đ/gi, 'd')
    .toLowerCase();
  await desk.getByLabel('Tìm đơn vị').fill(folded.replace(/^(xa|phuong|thi tran) /, ''));
  await desk.locator('ul.found').getByLabel(commune.unitName, { exact: true }).check();
  await desk.getByLabel('Nơi phát đã chọn').getByText(commune.unitName).waitFor();
  await desk.getByLabel('Lặp lại').selectOption('weekdays');
  await desk.getByLabel('Ngày bắt đầu').fill(tomorrow);
  await desk.getByLabel('Giờ (giờ Hà Nội)').fill('06:00');
  await desk.getByLabel('Đến ngày').fill(week);
  await desk.getByRole('button', { name: 'Xem trước' }).click();
  await desk.getByText(/1 đài, \d+ lượt phát/).waitFor();
  t.match(await desk.textContent('.preview'), /Không lượt nào bị quy định từ chối/);
  const rows = desk.locator('table.airings tbody tr');
  const planned = await rows.count();
  t.ok(planned >= 4, `${planned} airings listed one by one`);
  t.equal(await rows.filter({ hasText: 'Phát đúng giờ' }).count(), planned, 'each airs on time');
  t.ok(
    (await rows.allTextContents()).every((r) => r.includes('06:00')),
    'each at 06:00 Hanoi time',
  );
  await desk.screenshot({ path: join(SHOTS, 'schedules-preview-desktop.png'), fullPage: true });
  await desk.getByRole('button', { name: 'Lưu lịch' }).click();
  await desk.getByText('Đã lưu lịch.').waitFor();
  await desk.getByText(/Kế hoạch mới: 1\/1 trạm đã nhận, 0 đang chờ, 0 lỗi/).waitFor({ timeout: 30_000 });
  const onAir = await applied('created in the browser');
  t.equal(onAir, planned, 'the gateway holds every airing the preview listed');
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

  // The day of the first airing: cancel that airing alone.
  await desk
    .locator('.week .day', { has: desk.locator('.airing') })
    .first()
    .locator('h2 button')
    .click();
  await desk.getByRole('heading', { name: /^Lịch ngày/ }).waitFor();
  desk.once('dialog', (d) => void d.accept());
  await desk.getByRole('button', { name: 'Hủy lượt phát này' }).click();
  await desk.getByText('Đã hủy lượt phát; trạm sẽ nhận kế hoạch mới.').waitFor();
  await desk.locator('.hours .airing', { hasText: 'Đã hủy' }).waitFor();
  t.equal(await applied('one airing cancelled from the day view'), onAir - 1, 'one airing fewer on the gateway');
  await desk.screenshot({ path: join(SHOTS, 'calendar-day-desktop.png'), fullPage: true });
  await axe(desk, 'day view');

  // Edit the schedule from the calendar: 06:30 instead; the preview of the edit does not meet its own airings.
  const toCome = desk.locator('.hours .airing', { hasText: 'Sắp phát' });
  for (let i = 0; i < 4 && !(await toCome.count()); i++) {
    await desk.getByRole('button', { name: 'Hôm sau →' }).click();
    await desk.locator('main section[aria-busy="false"]').waitFor();
  }
  await toCome.first().getByRole('link', { name: 'Sửa lịch' }).click();
  await desk.getByRole('heading', { name: 'Sửa lịch' }).waitFor();
  const form = desk.locator('form.schedule');
  await form.getByText(commune.unitName).first().waitFor();
  t.equal(await desk.getByLabel('Lặp lại').inputValue(), 'weekdays', 'the saved rule is shown as the choice that made it');
  await desk.getByLabel('Giờ (giờ Hà Nội)').fill('06:30');
  await desk.getByRole('button', { name: 'Xem trước' }).click();
  await desk.locator('table.airings tbody tr').first().waitFor();
  const edited = await desk.locator('table.airings tbody tr').allTextContents();
  t.ok(
    edited.length > 0 && edited.every((r) => r.includes('06:30') && r.includes('Phát đúng giờ')),
    'the edit airs at 06:30, meeting nothing',
  );
  await desk.getByRole('button', { name: 'Lưu thay đổi' }).click();
  await desk.getByText('Đã lưu lịch.').waitFor();
  await applied('time changed in the browser');
  const times = await server.db.occurrence.findMany({
    where: { station: { code: commune.code }, status: 'scheduled' },
    select: { startsAt: true },
  });
  t.ok(
    times.length > 0 && times.every((o) => o.startsAt.getUTCHours() === 23 && o.startsAt.getUTCMinutes() === 30),
    'every airing to come at 06:30 Hanoi',
  );

  await row.getByRole('button', { name: 'Tạm dừng' }).click();
  // The page says so once the server has paused it (the button's own label is the same word).
  await desk.getByText(/Đã tạm dừng: \d+ lượt phát được giữ lại\./).waitFor();
  t.equal(await applied('paused'), 0, 'a paused schedule leaves nothing on the gateway');
  const [schedule] = (await api(server, 'GET', '/schedules')).body.items as { status: string; rrule: string; held: number }[];
  t.match(
    schedule,
    { status: 'paused', rrule: /^FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=\d{8}T165959Z$/ },
    'the form built the rule; the pause reached the server',
  );
  t.ok((schedule?.held ?? 0) >= 3, `${schedule?.held} airings held`);

  // A phone, 375 px wide: the same pages, and English on request.
  const phone = await open(375);
  await phone.goto(`${server.url}/`);
  await phone.getByRole('button', { name: 'Đăng nhập' }).waitFor();
  await phone.screenshot({ path: join(SHOTS, 'login-phone.png') });
  await signIn(phone, 'operator.socson');
  await phone.screenshot({ path: join(SHOTS, 'library-phone.png'), fullPage: true });
  await axe(phone, 'library at 375 px');
  await phone.getByRole('link', { name: 'Duyệt bản tin' }).click();
  await phone.getByRole('heading', { name: 'Duyệt bản tin' }).waitFor();
  await phone.screenshot({ path: join(SHOTS, 'approvals-phone.png'), fullPage: true });
  await phone.getByRole('link', { name: 'Lịch phát' }).click();
  await phone.getByRole('heading', { name: 'Lập lịch mới' }).waitFor();
  await phone.screenshot({ path: join(SHOTS, 'schedules-phone.png'), fullPage: true });
  await axe(phone, 'schedules at 375 px');
  // On the phone too: a one-off airing tomorrow at 17:30 at the same commune, picked, previewed, saved, delivered.
  await phone.getByRole('combobox', { name: /^Bản tin/ }).selectOption({ label: 'ban-tin-sang.wav' });
  await phone.getByLabel('Tìm đơn vị').fill(folded.replace(/^(xa|phuong|thi tran) /, ''));
  await phone.locator('ul.found').getByLabel(commune.unitName, { exact: true }).check();
  await phone.getByLabel('Ngày', { exact: true }).fill(tomorrow);
  await phone.getByLabel('Giờ (giờ Hà Nội)').fill('17:30');
  await phone.getByRole('button', { name: 'Xem trước' }).click();
  await phone.locator('table.airings tbody tr', { hasText: 'Phát đúng giờ' }).waitFor();
  t.match(await phone.locator('table.airings tbody tr').allTextContents(), [/17:30.*Phát đúng giờ/], 'one airing at 17:30, on time');
  await phone.screenshot({ path: join(SHOTS, 'schedules-preview-phone.png'), fullPage: true });
  await phone.getByRole('button', { name: 'Lưu lịch' }).click();
  await phone.getByText(/Kế hoạch mới: 1\/1 trạm đã nhận, 0 đang chờ, 0 lỗi/).waitFor({ timeout: 30_000 });
  t.equal(await applied('a one-off airing saved on a phone'), 1, 'the gateway holds it (the paused schedule holds nothing)');
  await phone.getByRole('link', { name: 'Lịch tuần' }).click();
  await phone.locator('.week .airing').first().waitFor();
  await phone.screenshot({ path: join(SHOTS, 'calendar-phone.png'), fullPage: true });
  await axe(phone, 'calendar at 375 px');
  await phone.getByRole('button', { name: 'Xem theo ngày' }).click();
  await phone.getByRole('heading', { name: /^Lịch ngày/ }).waitFor();
  await phone.screenshot({ path: join(SHOTS, 'calendar-day-phone.png'), fullPage: true });
  await phone.getByRole('link', { name: 'Lịch phát' }).click();
  const scrolls = await phone.evaluate<boolean>('document.documentElement.scrollWidth > window.innerWidth');
  t.equal(scrolls, false, 'nothing is wider than the phone');
  await phone.getByRole('button', { name: 'English' }).click();
  await phone.getByRole('heading', { name: 'New schedule' }).waitFor();
  t.pass('English on request');
  await phone.getByRole('button', { name: 'Sign out' }).click();
  await phone.getByRole('button', { name: 'Sign in' }).waitFor();

  t.same(problems, [], 'no console error and no CSP violation on any page');
});
