// `npm run bench -- console`: the console's weight and speed on loopback.
// - console_js_kb_gzip: its script files gzipped (goal ≤ 150);
// - first_screen_ms: from opening the sign-in page to the week calendar shown after signing in (median of 5).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CONSOLE_DIR } from '../server/routes/console.ts';
import { api, startTestServer } from '../test/helpers/server.ts';
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
  } finally {
    await browser.close();
    await server.stop();
  }
}
