import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { buildSqliteStore } from '../retention/prune-fixture.js';

/** `beacon prune` as a child process of the built CLI (dist/): exit statuses and one-line errors. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BEACON = path.join(root, 'dist/cli/beacon.js');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BEACON, 'prune', ...args], { encoding: 'utf8', env: { ...process.env, BEACON_STORE: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('beacon prune CLI', () => {
  const cases: [string, string[], string, number][] = [
    ['a unit it does not know', ['--older-than', '60x'], 'BEACON_ERR_BAD_DURATION', 2],
    ['no unit', ['--older-than', '60'], 'BEACON_ERR_BAD_DURATION', 2],
    ['zero', ['--older-than', '0d'], 'BEACON_ERR_BAD_DURATION', 2],
    ['a missing SQLite file', ['--older-than', '60d', '--db', '/nonexistent/usage.db'], 'BEACON_ERR_DB_MISSING', 1],
    ['a --store that is not postgres://', ['--older-than', '60d', '--store', 'mysql://x/y'], 'BEACON_ERR_USAGE', 2],
    ['an unreachable PostgreSQL', ['--older-than', '60d', '--store', 'postgres://127.0.0.1:1/nothing'], 'BEACON_ERR_DB_OPEN', 1],
  ];
  for (const [name, args, code, exit] of cases) {
    it(`${name}: one line, ${code}, exit ${exit}`, () => {
      const r = run(args);
      expect(r.code).toBe(exit);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^beacon: [^\\n]+ \\[${code}\\]\\n$`));
    });
  }

  it('prunes a real store and prints one line per month; a missing --older-than is a usage error', () => {
    const { file, store } = buildSqliteStore();
    store.close();
    // The fixture's months (2026-01 … 2026-04) are all older than 60 days at any date after 2026-06-30.
    const r = run(['--older-than', '60d', '--db', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.slice(0, 15)),
    ).toEqual(['2026-01  pruned', '2026-02  pruned', '2026-03  pruned', '2026-04  pruned']);
    const db = new Database(file, { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM run_facts').get() as { n: number }).n).toBe(0);
    db.close();
    const again = run(['--older-than', '60d', '--db', file, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).months).toEqual([]);
    const missing = run(['--db', file]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/older-than/);
  });
});
