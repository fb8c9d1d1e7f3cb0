// `npm run bench -- console`: the console's weight and speed on loopback.
// - console_js_kb_gzip: its script files gzipped (goal ≤ 150);
// - first_screen_ms: from opening the sign-in page to the week calendar shown after signing in (median of 5);
// - live_update_ms: from a gateway's state message (100 enrolled gateways on MQTT, each going offline and
//   online again) to the dot on the browser's live map changing colour, p95.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { stateTopic } from '#protocol';
import { CONSOLE_DIR } from '../server/routes/console.ts';
import { stationCoordinatesCsv } from '../test/helpers/coordinates.ts';
import { api, deviceClient, enrollDevice, startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from '../test/helpers/server.ts';
import { figure, median } from './report.ts';

export async function run(): Promise<void> {
  const assets = join(CONSOLE_DIR, 'assets');
  const js = readdirSync(assets).filter((f) => f.endsWith('.js'));
  const gzip = js.reduce((a, f) => a + gzipSync(readFileSync(join(assets, f))).length, 0);
  const css = readdirSync(assets).filter((f) => f.endsWith('.css'));
  figure('console', 'console_js_kb_gzip', Math.round((gzip / 1024) * 10) / 10, 'KB', {
    files: js.length,
    css_kb_gzip: Math.round((css.reduce((a, f) => a + gzipSync(readFileSync(join(assets, f))).length, 0) / 1024) * 10) / 10,
  });

  const server = await startTestServer();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    await api(server, 'POST', '/users', {
      username: 'operator.bench',
      password: 'a-long-password-1',
      role: 'district_operator',
      unit: '016',
    });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const t0 = performance.now();
      await page.goto(`${server.url}/#/calendar`);
      await page.getByLabel('Tên đăng nhập').fill('operator.bench');
      await page.getByLabel('Mật khẩu').fill('a-long-password-1');
      await page.getByRole('button', { name: 'Đăng nhập' }).click();
      await page.locator('.week .day').first().waitFor();
      times.push(performance.now() - t0);
      await context.close();
    }
    figure('console', 'first_screen_ms', Math.round(median(times)), 'ms', { runs: times.map(Math.round) });
    await liveUpdates(server, browser);
  } finally {
    await browser.close();
    await server.stop();
  }
}

/** 100 gateways flip offline → online one at a time; each flip is timed from its publish to the DOM change. */
async function liveUpdates(server: TestServer, browser: Browser): Promise<void> {
  const N = 100;
  const { csv } = await stationCoordinatesCsv(server.db);
  await fetch(`${server.url}/api/v1/stations/import`, {
    method: 'POST',
    headers: { ...server.auth, 'content-type': 'text/csv' },
    body: csv,
  });
  const stations = (await server.db.station.findMany({ select: { code: true }, orderBy: { code: 'asc' }, take: N })).map((s) => s.code);
  const gateways = [];
  for (const station of stations) {
    const { device, password } = await enrollDevice(server, station);
    gateways.push({ station, device, client: await deviceClient(server, device, password) });
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`${server.url}/#/live`);
  await page.getByLabel('Tên đăng nhập').fill('admin');
  await page.getByLabel('Mật khẩu').fill(TEST_ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  await page.getByRole('heading', { name: 'Trực tiếp' }).waitFor();
  await page.locator('circle[data-station]').first().waitFor();
  // The page records when each dot's state attribute changes (wall clock, same machine as the publisher).
  await page.evaluate(`(() => {
    window.seen = {};
    new MutationObserver((records) => {
      for (const r of records) window.seen[r.target.getAttribute('data-station') + ':' + r.target.getAttribute('data-state')] = Date.now();
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  })()`);
  const latencies: number[] = [];
  const stateOf = (station: string) => page.locator(`circle[data-station="${station}"]`).getAttribute('data-state');
  // Each gateway flips three times from the state its dot shows (a message that changes nothing moves no dot).
  for (let round = 0; round < 3; round++) {
    for (const g of gateways) {
      const online = (await stateOf(g.station)) === 'offline';
      const key = `${g.station}:${online ? 'online' : 'offline'}`;
      const sentAt = Date.now();
      await g.client.publishAsync(stateTopic(g.device), JSON.stringify({ station: g.station, online }), { qos: 1, retain: true });
      await page.locator(`circle[data-station="${g.station}"][data-state="${online ? 'online' : 'offline'}"]`).waitFor({ timeout: 10_000 });
      const at = await page.evaluate<number>(
        `(() => { const at = window.seen[${JSON.stringify(key)}]; delete window.seen[${JSON.stringify(key)}]; return at; })()`,
      );
      latencies.push(at - sentAt);
    }
  }
  latencies.sort((a, b) => a - b);
  const p95 = latencies[Math.floor(latencies.length * 0.95)] ?? Number.NaN;
  figure('console', 'live_update_ms', p95, 'ms', {
    p50: latencies[Math.floor(latencies.length / 2)],
    max: latencies.at(-1),
    changes: latencies.length,
    gateways: N,
    goal: 1000,
  });
  for (const g of gateways) await g.client.endAsync();
  await context.close();
}
