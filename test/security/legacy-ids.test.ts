import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollectorSecret, secretFromKey } from '../../src/receiver/collector-secret.js';
import { networkKey } from '../../src/receiver/network-key.js';
import { bindSecretPostgres, bindSecretSqlite } from '../../src/store/legacy-rekey.js';
import { openPostgresStore } from '../../src/store/postgres/store.js';
import { openSqliteStore } from '../../src/store/sqlite/store.js';
import type { IngestRecord, RunStore } from '../../src/store/types.js';
import { createTestSchema, type TestSchema } from '../store/postgres/helpers.js';
import { runCli, send, startReceiver, tempDir, waitFor, type RunningReceiver } from '../receiver/helpers.js';

/** What Parsl's legacy client sends for a username: the first 10 hex of an unsalted SHA-256. */
const parslHash = (name: string) => createHash('sha256').update(name).digest('hex').slice(0, 10);
const RUN = (i: number) => `0b7f0d3e-2a4c-4b8e-9a4f-${String(i).padStart(12, '0')}`;
const NATIVE_USER = 'c'.repeat(32);

/** A record as a version before the collector secret stored it: the raw legacy prefixes. */
function rawLegacy(i: number, user: string, kind: 'start' | 'end' = 'start'): IngestRecord {
  return {
    run: RUN(i),
    kind,
    project: 'parsl',
    format: 'parsl-legacy',
    user_id: parslHash(user),
    host_id: parslHash(`${user}-laptop`),
    script_id: null,
    weak_ids: true,
    eph: false,
    version: '2023.03.20',
    runtime: 'python/3.10.12',
    os: 'linux',
    arch: null,
    ci: null,
    components: null,
    seen_ms: Date.UTC(2026, 10, 3 + i),
    month: 202611,
    client_ms: Date.UTC(2026, 10, 3 + i),
    exit_code: null,
    duration_ms: null,
  };
}
const native = (i: number): IngestRecord => ({
  ...rawLegacy(i, 'x'),
  project: 'demo',
  format: 'native',
  user_id: NATIVE_USER,
  host_id: NATIVE_USER,
  script_id: NATIVE_USER,
  weak_ids: false,
});

let tmp: ReturnType<typeof tempDir> | undefined;
let rx: RunningReceiver | undefined;
let pgs: TestSchema | undefined;
afterEach(async () => {
  await rx?.stop();
  rx = undefined;
  await pgs?.drop();
  pgs = undefined;
  tmp?.cleanup();
  tmp = undefined;
});

describe('collector secret file', () => {
  it('is created 0600 with 32 random bytes, and the same secret is loaded on every start', () => {
    tmp = tempDir();
    const path = join(tmp.dir, 'usage.db.secret');
    const a = loadCollectorSecret(path);
    expect(a.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const b = loadCollectorSecret(path);
    expect(b.created).toBe(false);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(b.legacyId('user', '3c2b1a0f9e')).toBe(a.legacyId('user', '3c2b1a0f9e'));
    // Another collector's secret gives other IDs: nothing is shared between collectors.
    const other = loadCollectorSecret(join(tmp.dir, 'other.secret'));
    expect(other.legacyId('user', '3c2b1a0f9e')).not.toBe(a.legacyId('user', '3c2b1a0f9e'));
  });

  it('keys users and hosts apart, and network tags rotate daily', () => {
    const s = secretFromKey(Buffer.alloc(32, 1));
    expect(s.legacyId('user', '3c2b1a0f9e')).toMatch(/^[0-9a-f]{32}$/);
    expect(s.legacyId('user', '3c2b1a0f9e')).not.toBe(s.legacyId('host', '3c2b1a0f9e'));
    expect(s.netTag('2026-11-03', 12345)).toMatch(/^[0-9a-f]{16}$/);
    expect(s.netTag('2026-11-03', 12345)).toBe(s.netTag('2026-11-03', 12345));
    expect(s.netTag('2026-11-04', 12345)).not.toBe(s.netTag('2026-11-03', 12345));
    expect(s.netTag('2026-11-03', 12346)).not.toBe(s.netTag('2026-11-03', 12345));
  });

  it('gives a network the same tag all day, from a fresh secret, across day changes and however many networks came between', () => {
    const key = Buffer.alloc(32, 7);
    // A fresh instance computes every tag (nothing cached): the reference.
    const tag = (day: string, net: number): string => secretFromKey(key).netTag(day, net);
    const s = secretFromKey(key);
    const first = s.netTag('2026-11-03', 42);
    expect(first).toBe(tag('2026-11-03', 42));
    // More networks than the receiver keeps tags for in a day (a flood of spoofed sources).
    for (let net = 1000; net < 1000 + 70_000; net++) s.netTag('2026-11-03', net);
    expect(s.netTag('2026-11-03', 42)).toBe(first);
    expect(s.netTag('2026-11-03', 69_999)).toBe(tag('2026-11-03', 69_999));
    expect(s.netTag('2026-11-04', 42)).toBe(tag('2026-11-04', 42));
    expect(s.netTag('2026-11-03', 42)).toBe(first);
  });

  it('refuses a malformed file with a one-line error, and warns about one others can read', () => {
    tmp = tempDir();
    const bad = join(tmp.dir, 'bad.secret');
    writeFileSync(bad, 'hunter2\n', { mode: 0o600 });
    expect(() => loadCollectorSecret(bad)).toThrow(expect.objectContaining({ code: 'BEACON_ERR_COLLECTOR_SECRET', exitCode: 78 }));
    expect(() => loadCollectorSecret(join(tmp!.dir, 'no-such-dir', 'x.secret'))).toThrow(
      expect.objectContaining({ code: 'BEACON_ERR_COLLECTOR_SECRET' }),
    );
    const open = join(tmp.dir, 'open.secret');
    loadCollectorSecret(open);
    chmodSync(open, 0o644);
    const warnings: string[] = [];
    loadCollectorSecret(open, (m) => warnings.push(m));
    expect(warnings).toEqual([expect.stringContaining('readable by others')]);
  });
});

/** Every text value of every table, to search a copy of the database for what it must not hold. */
function allSqliteText(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
    return tables.map(({ name }) => JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all())).join('\n');
  } finally {
    db.close();
  }
}

async function writeOld(store: RunStore, records: IngestRecord[]): Promise<void> {
  await store.writeBatch(records, []);
  await store.close();
}

describe('legacy Parsl IDs at rest', () => {
  it('SQLite: raw IDs of an existing store are re-keyed once; native IDs untouched; another secret is refused', async () => {
    tmp = tempDir();
    await writeOld(openSqliteStore(tmp.db), [rawLegacy(1, 'alice'), rawLegacy(2, 'bob'), rawLegacy(2, 'bob', 'end'), native(3)]);
    expect(allSqliteText(tmp.db)).toContain(parslHash('alice'));
    const s = secretFromKey(Buffer.alloc(32, 9), 'test');
    // run_facts user + host for 2 runs, user_first_month for 2 users.
    expect(bindSecretSqlite(tmp.db, s)).toEqual({ rekeyed: 6, bound: true });
    const text = allSqliteText(tmp.db);
    for (const name of ['alice', 'bob', 'alice-laptop', 'bob-laptop']) expect(text).not.toContain(parslHash(name));
    const db = new Database(tmp.db, { readonly: true });
    expect(db.prepare('SELECT user_id, host_id FROM run_facts ORDER BY run').all()).toEqual([
      { user_id: s.legacyId('user', parslHash('alice')), host_id: s.legacyId('host', parslHash('alice-laptop')) },
      { user_id: s.legacyId('user', parslHash('bob')), host_id: s.legacyId('host', parslHash('bob-laptop')) },
      { user_id: NATIVE_USER, host_id: NATIVE_USER },
    ]);
    expect(db.prepare('SELECT project, user_id FROM user_first_month ORDER BY user_id').all()).toHaveLength(3);
    db.close();
    expect(bindSecretSqlite(tmp.db, s)).toEqual({ rekeyed: 0, bound: false });
    expect(() => bindSecretSqlite(tmp!.db, secretFromKey(Buffer.alloc(32, 8), 'other.secret'))).toThrow(
      expect.objectContaining({ code: 'BEACON_ERR_COLLECTOR_SECRET', message: expect.stringContaining('another collector secret') }),
    );
  });

  it('PostgreSQL: the same, and a second receiver with the same secret binds without re-keying', async () => {
    pgs = await createTestSchema();
    await writeOld(await openPostgresStore(pgs.url), [rawLegacy(1, 'alice'), rawLegacy(2, 'bob'), native(3)]);
    const store = await openPostgresStore(pgs.url);
    try {
      const s = secretFromKey(Buffer.alloc(32, 9), 'test');
      expect(await bindSecretPostgres(store.pool, s)).toEqual({ rekeyed: 6, bound: true });
      const rows = (await pgs.admin.query(`SELECT user_id, host_id FROM ${pgs.schema}.run_facts ORDER BY run`)).rows;
      expect(rows).toEqual([
        { user_id: s.legacyId('user', parslHash('alice')), host_id: s.legacyId('host', parslHash('alice-laptop')) },
        { user_id: s.legacyId('user', parslHash('bob')), host_id: s.legacyId('host', parslHash('bob-laptop')) },
        { user_id: NATIVE_USER, host_id: NATIVE_USER },
      ]);
      const firsts = (await pgs.admin.query(`SELECT user_id, month FROM ${pgs.schema}.user_first_month ORDER BY user_id`)).rows;
      expect(firsts.map((r) => r.user_id).sort()).toEqual(
        [NATIVE_USER, s.legacyId('user', parslHash('alice')), s.legacyId('user', parslHash('bob'))].sort(),
      );
      expect(await bindSecretPostgres(store.pool, s)).toEqual({ rekeyed: 0, bound: false });
      await expect(bindSecretPostgres(store.pool, secretFromKey(Buffer.alloc(32, 8), 'other.secret'))).rejects.toMatchObject({
        code: 'BEACON_ERR_COLLECTOR_SECRET',
      });
    } finally {
      await store.close();
    }
  });

  it('end to end: a receiver stores a legacy datagram keyed, so the database alone reverses nothing', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    const listening = rx.lines.find((l) => l.msg === 'listening')!;
    expect(listening).toMatchObject({ secretFile: `${tmp.db}.secret`, secretCreated: true, legacyIdsRekeyed: 0 });
    const start = {
      uuid: RUN(7),
      uname: parslHash('root'),
      hname: parslHash('login01'),
      test: false,
      parsl_v: '2023.03.20',
      python_v: '3.10.12',
      os: 'Linux',
      os_v: '5.15',
      start: 1764547200,
    };
    await send(rx.port, [Buffer.from(JSON.stringify(start))]);
    const db = () => new Database(tmp!.db, { readonly: true });
    await waitFor('the legacy run', () => {
      const d = db();
      try {
        return d.prepare('SELECT user_id FROM run_facts').get();
      } finally {
        d.close();
      }
    });
    await rx.stop();
    rx = undefined;
    // A dictionary attack on a copy of the database: hash likely names as Parsl does, look them up.
    const text = allSqliteText(tmp.db);
    for (const name of ['root', 'login01']) expect(text).not.toContain(parslHash(name));
    const secret = loadCollectorSecret(`${tmp.db}.secret`);
    expect(text).toContain(secret.legacyId('user', parslHash('root')));
    expect(text).toContain(secret.fingerprint); // the fingerprint, never the secret itself
    expect(text).not.toContain(readFileSync(`${tmp.db}.secret`, 'utf8').trim());
    // The run's network is stored as the day's keyed tag of 127.0.0/24, never as an address.
    const d = new Database(tmp.db, { readonly: true });
    const row = d.prepare('SELECT net_tag, first_seen_ms FROM run_facts').get() as { net_tag: string; first_seen_ms: number };
    d.close();
    expect(row.net_tag).toBe(secret.netTag(new Date(row.first_seen_ms).toISOString().slice(0, 10), networkKey('127.0.0.1')));
    expect(text).not.toMatch(/127\.0\.0/);
  });

  it('a receiver given another secret than its store was keyed with exits 78 with one line', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off']);
    await rx.stop();
    rx = undefined;
    const other = join(tmp.dir, 'other.secret');
    const r = await runCli(['receive', '--port', '0', '--db', tmp.db, '--secret-file', other]);
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/another collector secret.*\[BEACON_ERR_COLLECTOR_SECRET\]/);
  });
});
