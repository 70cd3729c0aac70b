import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hexId, tempDir, TestStore, times, type RunRow } from './store-fixture.js';
import { jsonReport, runReport } from './run-report.js';
import fs from 'node:fs';

/**
 * The data-quality section's poisoning checks on a hand-built October 2026 whose answer is known:
 * 40 genuine users (20 returning from September), plus three kinds of made-up traffic.
 */
const SEP = 202609;
const OCT = 202610;
const user = (n: string) => ({ user_id: hexId(`u-${n}`), host_id: hexId(`h-${n}`), script_id: hexId(`s-${n}`) });

function genuine(): RunRow[] {
  const rows: RunRow[] = [];
  for (let i = 0; i < 40; i++) {
    if (i < 20) rows.push({ ...user(`g${i}`), month: SEP, day: 5 });
    // 3 runs each on three different days of October.
    for (const day of [2 + (i % 9), 12 + (i % 7), 21 + (i % 6)]) rows.push({ ...user(`g${i}`), month: OCT, day });
  }
  return rows;
}

let dir: string;
let db: string;
beforeEach(() => {
  dir = tempDir();
  db = path.join(dir, 'usage.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('report poisoning checks', () => {
  it('a clean month flags nothing and the numbers without flags equal the headline', async () => {
    const s = new TestStore(db);
    s.insert(genuine());
    s.close();
    const r = await jsonReport({ db, month: '2026-10', minUsers: 1 });
    const p = r.quality.poisoning;
    expect(p.flagged).toBe(false);
    expect(p.flagged_users).toBe(0);
    expect(p.without_flagged).toEqual(p.headline);
    expect(p.headline).toMatchObject({ unique_users: r.unique_users, new_users: r.new_users, runs_started: r.runs_started, compute_hours: r.compute_hours });
    expect(p.one_network.runs_tagged).toBe(0);
    expect(await runReport({ db, month: '2026-10', minUsers: 1, format: 'md' })).toMatch(/### Could the headline numbers be inflated\?[\s\S]*Nothing this month matches/);
  });

  it('flags a heavy ID, a burst of one-off IDs and one network, and states the numbers without them', async () => {
    const s = new TestStore(db);
    s.insert(genuine());
    // One ID with 200 runs over the month: 200 of 460 runs.
    s.insert(Array.from({ length: 200 }, (_, i) => ({ ...user('heavy'), month: OCT, day: 1 + (i % 28) })));
    // 80 IDs with one run each on 15 October, never seen again.
    s.insert(Array.from({ length: 80 }, (_, i) => ({ ...user(`burst${i}`), month: OCT, day: 15 })));
    // 30 new users from one network on 20 October (2 runs each): below the burst threshold.
    s.insert(Array.from({ length: 30 }, (_, i) => times(2, { ...user(`net${i}`), month: OCT, day: 20 })).flat());
    const netUsers = Array.from({ length: 30 }, (_, i) => hexId(`u-net${i}`));
    s.db.prepare(`UPDATE run_facts SET net_tag = 'aaaaaaaaaaaaaaaa' WHERE user_id IN (${netUsers.map(() => '?').join(',')})`).run(...netUsers);
    // Genuine users come from many networks: one tag each.
    s.db.prepare(`UPDATE run_facts SET net_tag = substr(user_id, 1, 16) WHERE net_tag IS NULL AND month = ${OCT}`).run();
    s.close();

    const r = await jsonReport({ db, month: '2026-10', minUsers: 1 });
    const p = r.quality.poisoning;
    // Totals worked out by hand: 120 + 200 + 80 + 60 runs; 40 + 1 + 80 + 30 users; new = 20 + 1 + 80 + 30.
    expect(p.headline).toMatchObject({ runs_started: 460, unique_users: 151, new_users: 131 });
    expect(p.headline).toMatchObject({ unique_users: r.unique_users, new_users: r.new_users, runs_started: r.runs_started });
    expect(p.flagged).toBe(true);
    expect(p.heavy_ids).toMatchObject({ ids: 1, runs: 200, share_of_runs: Math.round((200 / 460) * 10000) / 10000 });
    expect(p.one_off_bursts.days).toEqual([{ day: '2026-10-15', one_off_users: 80 }]);
    expect(p.one_network).toMatchObject({ flagged: 1, networks: [{ day: '2026-10-20', new_users: 30, share_of_new_users: Math.round((30 / 131) * 10000) / 10000 }] });
    expect(p.flagged_users).toBe(111);
    expect(p.without_flagged).toMatchObject({ runs_started: 120, unique_users: 40, new_users: 20, compute_hours: 2 });
    // Nothing names an ID or a network tag, in any format.
    for (const format of ['json', 'md', 'html', 'csv'] as const) {
      const out = await runReport({ db, month: '2026-10', minUsers: 1, format });
      expect(out).not.toContain(hexId('u-heavy'));
      expect(out).not.toContain('aaaaaaaaaaaaaaaa');
    }
    const md = await runReport({ db, month: '2026-10', minUsers: 1, format: 'md' });
    expect(md).toMatch(/Unique users without them \| 40 \(of 151\)/);
    expect(md).toMatch(/Bursts of one-off IDs \| 2026-10-15: 80/);
    const csv = await runReport({ db, month: '2026-10', minUsers: 1, format: 'csv' });
    expect(csv).toMatch(/2026-10,poisoning.without_flagged.unique_users,40/);
  });

  it('a single busy genuine user of a small project is not flagged (thresholds need a real signal)', async () => {
    const s = new TestStore(db);
    s.insert(times(60, { ...user('solo'), month: OCT }));
    s.insert(times(3, { ...user('other'), month: OCT }));
    s.close();
    const p = (await jsonReport({ db, month: '2026-10', minUsers: 1 })).quality.poisoning;
    expect(p.heavy_ids.ids).toBe(0);
    expect(p.flagged).toBe(false);
  });

  it('the one-off burst needs users never seen again: the same IDs returning in November are not flagged', async () => {
    const s = new TestStore(db);
    s.insert(genuine());
    s.insert(Array.from({ length: 80 }, (_, i) => ({ ...user(`burst${i}`), month: OCT, day: 15 })));
    s.insert(Array.from({ length: 80 }, (_, i) => ({ ...user(`burst${i}`), month: 202611, day: 3 })));
    s.close();
    const p = (await jsonReport({ db, month: '2026-10', minUsers: 1 })).quality.poisoning;
    expect(p.one_off_bursts.days).toEqual([]);
    expect(p.flagged).toBe(false);
  });
});
