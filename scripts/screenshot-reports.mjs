// Screenshots of html reports in headless Chromium (Debian's /usr/bin/chromium), for maintainers
// checking how a report or site looks: node scripts/screenshot-reports.mjs OUT_DIR FILE.html...
// Each page is rendered at 1280 px wide, full height, to OUT_DIR/<name>.png. Nothing is fetched:
// the reports are self-contained, and Chromium runs without network-touching background services.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** A fresh browser with a throwaway profile; call close() to end it and remove the profile. */
export async function launch() {
  const { default: puppeteer } = await import('puppeteer-core');
  const profile = mkdtempSync(join(tmpdir(), 'reports-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function main() {
  const [out, ...files] = process.argv.slice(2);
  if (!out || files.length === 0) {
    process.stderr.write('usage: node scripts/screenshot-reports.mjs OUT_DIR FILE.html...\n');
    process.exit(2);
  }
  mkdirSync(out, { recursive: true });
  const b = await launch();
  try {
    const page = await b.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    for (const f of files) {
      await page.goto(pathToFileURL(resolve(f)).href, { waitUntil: 'load' });
      const png = join(out, `${basename(f, '.html')}.png`);
      await page.screenshot({ path: png, fullPage: true });
      process.stdout.write(`${png}\n`);
    }
  } finally {
    await b.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
