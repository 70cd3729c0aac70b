import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { IngestRecord } from '../../src/store/types.js';
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
    expect(p.headline).toMatchObject({
      unique_users: r.unique_users,
      new_users: r.new_users,
      runs_started: r.runs_started,
      compute_hours: r.compute_hours,
    });
    expect(p.one_network.runs_tagged).toBe(0);
    expect(await runReport({ db, month: '2026-10', minUsers: 1, format: 'md' })).toMatch(
      /### Could the headline numbers be inflated\?[\s\S]*Nothing this month matches/,
    );
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
    s.db
      .prepare(`UPDATE run_facts SET net_tag = 'aaaaaaaaaaaaaaaa' WHERE user_id IN (${netUsers.map(() => '?').join(',')})`)
      .run(...netUsers);
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
    expect(p.one_network).toMatchObject({
      flagged: 1,
      networks: [{ day: '2026-10-20', new_users: 30, share_of_new_users: Math.round((30 / 131) * 10000) / 10000 }],
    });
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

describe('report poisoning checks on both stores', () => {
  const schema = `poisoning_${process.pid}`;
  const pgUrl = `postgres://127.0.0.1:5432/test?options=-csearch_path%3D${schema}`;

  /** Written through the real stores' write path, network tags included. */
  function records(): IngestRecord[] {
    const out: IngestRecord[] = [];
    const rec = (n: string, i: number, day: number, tag: string): void => {
      const ms = Date.UTC(2026, 9, day, 12);
      for (const kind of ['start', 'end'] as const) {
        out.push({
          run: `00000000-0000-4000-8000-${String(out.length >> 1).padStart(12, '0')}`,
          kind,
          project: 'parsl',
          format: 'native',
          user_id: hexId(`u-${n}`),
          host_id: hexId(`h-${n}`),
          script_id: hexId(`s-${n}`),
          weak_ids: false,
          eph: false,
          version: '1.0',
          runtime: 'node/20',
          os: 'linux',
          arch: 'x64',
          ci: false,
          components: null,
          seen_ms: ms + i,
          month: OCT,
          client_ms: ms,
          exit_code: kind === 'end' ? 0 : null,
          duration_ms: kind === 'end' ? 60_000 : null,
          net_tag: tag,
        });
      }
    };
    for (let i = 0; i < 40; i++) for (const day of [2, 12, 22]) rec(`g${i}`, i, day + (i % 5), `genuine${i}`.padEnd(16, '0'));
    for (let i = 0; i < 150; i++) rec('heavy', i, 1 + (i % 28), `heavy${i % 28}`.padEnd(16, '0'));
    for (let i = 0; i < 80; i++) rec(`burst${i}`, i, 15, `burst${i}`.padEnd(16, '0'));
    for (let i = 0; i < 30; i++) rec(`net${i}`, i, 20, 'bbbbbbbbbbbbbbbb');
    return out;
  }

  it('SQLite and PostgreSQL flag the same and give the same numbers without them', async () => {
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
      for (const loc of [{ db }, { db, store: pgUrl }]) {
        const store = await openStore(loc);
        await store.writeBatch(records(), []);
        await store.close();
      }
      const fromSqlite = await jsonReport({ db, month: '2026-10', minUsers: 1 });
      const fromPostgres = await jsonReport({ db, store: pgUrl, month: '2026-10', minUsers: 1 });
      expect(fromPostgres.quality.poisoning).toEqual(fromSqlite.quality.poisoning);
      const p = fromSqlite.quality.poisoning;
      expect(p.headline).toMatchObject({ runs_started: 380, unique_users: 151, new_users: 151 });
      expect(p.heavy_ids).toMatchObject({ ids: 1, runs: 150 });
      expect(p.one_off_bursts.days).toEqual([{ day: '2026-10-15', one_off_users: 80 }]);
      expect(p.one_network).toMatchObject({ flagged: 1, runs_tagged: 380, networks: [{ day: '2026-10-20', new_users: 30 }] });
      expect(p.without_flagged).toMatchObject({ runs_started: 120, unique_users: 40, new_users: 40, compute_hours: 2 });
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });
});
