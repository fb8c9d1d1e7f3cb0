// Debian's Chromium through playwright-core for the console tests: a page per viewport that records every
// console error and CSP violation, sign-in through the form, and axe-core on a copy of the page.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const skipWithoutChromium = existsSync(CHROMIUM)
  ? false
  : 'chromium is not installed (apt-get install chromium; .ci/run installs it)';
// The committed screenshots are made with LP_SCREENSHOTS=1; an ordinary run writes them to a temporary folder.
export const SHOTS =
  process.env.LP_SCREENSHOTS === '1' ? join(import.meta.dirname, '../../console/screenshots') : mkdtempSync(join(tmpdir(), 'lp-shots-'));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** `microphone`: a WAV file the fake microphone plays (looped) instead of its beep. */
export async function launchBrowser(t: { teardown(fn: () => unknown): void }, opts: { microphone?: string } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    // A fake microphone (a beeping tone) that is allowed without asking.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      ...(opts.microphone ? [`--use-file-for-fake-audio-capture=${opts.microphone}`] : []),
    ],
  });
  t.teardown(() => browser.close());
  const problems: string[] = [];
  /** A new page `width` px wide (phone height under 600 px) that reports its errors into `problems`. */
  const open = async (width: number) => {
    const context = await browser.newContext({ viewport: { width, height: width < 600 ? 800 : 900 }, locale: 'vi-VN' });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`${width}px: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${width}px: ${e.message} ${process.env.LP_DEBUG_STACK ? e.stack : ''}`));
    return page;
  };
  /** axe-core in a copy of the page's state that bypasses the CSP (axe is injected inline; the page itself never is). */
  const axe = async (page: Page) => {
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
    return { serious: found.filter((v) => v.impact === 'serious' || v.impact === 'critical'), all: found.length };
  };
  return { browser, open, axe, problems };
}

/** Signs in through the console's form and waits for the first page. */
export async function signIn(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Tên đăng nhập').fill(username);
  await page.getByLabel('Mật khẩu').fill(password);
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  await page.getByRole('heading', { name: 'Thư viện' }).waitFor();
}
