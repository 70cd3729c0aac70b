/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSite } from '../../src/commands/site.js';
import { refreshBookkeeping } from '../../src/store/sqlite/bookkeeping.js';
import { migrateSqlite } from '../../src/store/sqlite/migrate.js';
// @ts-expect-error plain JavaScript modules, shared with the demo and the screenshot script
import { seedHistory } from '../../scripts/demo/seed.mjs';
// @ts-expect-error see above
import { launch } from '../../scripts/screenshot-reports.mjs';
import { tempDir } from './store-fixture.js';

/**
 * The html reports and the site's index in a real browser (Debian's headless Chromium): every
 * chart has a size, no text spills out of its box, the page never scrolls sideways, and the
 * console stays clean (the CSP would log any blocked load there). Skipped, loudly, only when
 * /usr/bin/chromium is missing (.ci/run installs it).
 */
const HAVE_CHROMIUM = fs.existsSync(process.env.CHROMIUM ?? '/usr/bin/chromium');
const NOW = Date.UTC(2026, 10, 15);

let dir: string;
let site: string;
let b: { browser: Browser; close(): Promise<void> } | undefined;

beforeAll(async () => {
  dir = tempDir();
  const db = path.join(dir, 'usage.db');
  const d = new Database(db);
  migrateSqlite(d);
  seedHistory(d, new Date(NOW));
  refreshBookkeeping(d);
  d.close();
  site = path.join(dir, 'site');
  await buildSite({ out: site, db, minUsers: 5, yearStart: '09', now: () => NOW });
  // No silent skip: without a browser these checks cannot pass (.ci/run installs Debian's chromium;
  // elsewhere, install it or point $CHROMIUM at one).
  if (!HAVE_CHROMIUM) throw new Error(`no Chromium at ${process.env.CHROMIUM ?? '/usr/bin/chromium'}: install the chromium package`);
  b = await launch();
}, 120_000);

afterAll(async () => {
  await b?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Problems {
  console: string[];
  charts: { w: number; h: number }[];
  overflow: string[];
  pageOverflow: number;
}

async function inspect(page: Page, file: string, width: number): Promise<Problems> {
  const messages: string[] = [];
  page.removeAllListeners('console');
  page.removeAllListeners('pageerror');
  page.removeAllListeners('requestfailed');
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') messages.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => messages.push(`pageerror: ${String(e)}`));
  page.on('requestfailed', (r) => messages.push(`requestfailed: ${r.url()}`));
  await page.setViewport({ width, height: 900 });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const found = await page.evaluate(() => {
    const charts = [...document.querySelectorAll('figure svg')].map((s) => {
      const r = s.getBoundingClientRect();
      return { w: r.width, h: r.height };
    });
    const overflow: string[] = [];
    for (const el of document.querySelectorAll('h1, h2, h3, p, td, th, figcaption, li, footer')) {
      const h = el as HTMLElement;
      // Inside a horizontally scrollable wrapper, a wide table is allowed to scroll, not to spill.
      if (h.scrollWidth > h.clientWidth + 1) overflow.push(`${h.tagName}: ${h.textContent?.slice(0, 60)}`);
    }
    const body = document.documentElement.scrollWidth - window.innerWidth;
    return { charts, overflow, pageOverflow: body };
  });
  return { console: messages, ...found };
}

const pages = () => [
  path.join(site, 'index.html'),
  ...fs
    .readdirSync(path.join(site, 'periods'))
    .filter((f) => f.endsWith('.html'))
    .map((f) => path.join(site, 'periods', f)),
  ...fs
    .readdirSync(path.join(site, 'months'))
    .filter((f) => f.endsWith('.html'))
    .slice(-2)
    .map((f) => path.join(site, 'months', f)),
];

describe('html reports in headless Chromium', () => {
  for (const width of [1280, 800]) {
    it(`at ${width} px: charts have a size, nothing overflows, the console is clean`, async () => {
      const page = await b!.browser.newPage();
      try {
        for (const file of pages()) {
          const p = await inspect(page, file, width);
          const name = path.relative(site, file);
          expect(p.console, name).toEqual([]);
          expect(p.overflow, name).toEqual([]);
          expect(p.pageOverflow, name).toBeLessThanOrEqual(0);
          if (!name.startsWith('months/') || name !== 'months/2025-12.html') {
            expect(p.charts.length, name).toBeGreaterThan(0);
          }
          for (const c of p.charts) {
            expect(c.w, name).toBeGreaterThan(50);
            expect(c.h, name).toBeGreaterThan(30);
          }
        }
      } finally {
        await page.close();
      }
    }, 120_000);
  }

  it('a blocked external load would show: the check is live', async () => {
    // The same inspection on a page that breaks the rules must report each problem.
    const bad = path.join(dir, 'bad.html');
    fs.writeFileSync(
      bad,
      `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"></head>
<body><figure><svg width="0" height="0"></svg></figure><table><tr><td style="width:40px;max-width:40px;white-space:nowrap;overflow:hidden">${'x'.repeat(200)}</td></tr></table>
<img src="https://example.invalid/x.png"></body></html>`,
    );
    const page = await b!.browser.newPage();
    try {
      const p = await inspect(page, bad, 1280);
      expect(p.console.length).toBeGreaterThan(0);
      expect(p.overflow.length).toBeGreaterThan(0);
      expect(p.charts[0]!.w).toBe(0);
    } finally {
      await page.close();
    }
  }, 60_000);
});
