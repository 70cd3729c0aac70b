import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { backlogBounds } from '../../src/receiver/backlog.js';
import { Batcher } from '../../src/receiver/batcher.js';
import { Stats } from '../../src/receiver/observe/stats.js';
import type { IngestRecord, RunStore } from '../../src/store/types.js';

function rec(): IngestRecord {
  return {
    run: randomUUID(),
    kind: 'start',
    project: 'p',
    format: 'native',
    user_id: 'u'.repeat(32),
    host_id: 'h'.repeat(32),
    script_id: 's'.repeat(32),
    weak_ids: false,
    eph: false,
    version: '1',
    runtime: 'node/20',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: 'x'.repeat(200),
    seen_ms: Date.now(),
    month: 202612,
    client_ms: 1,
    exit_code: null,
    duration_ms: null,
  };
}

/** A store that refuses every write, as a full disk does; it can be told to recover. */
function failingStore(): RunStore & { ok: boolean; written: number } {
  const s = {
    kind: 'sqlite' as const,
    ok: false,
    written: 0,
    async writeBatch(records: readonly IngestRecord[]) {
      if (!s.ok) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      s.written += records.length;
      return { stored: records.length, duplicates: 0 };
    },
    async close() {},
  };
  return s;
}

describe('the backlog bound', () => {
  it('is read from the environment, with defaults of 100,000 records and 32 MiB (and 1 GiB of intake log)', () => {
    const GiB = 1024 * 1024 * 1024;
    expect(backlogBounds({})).toEqual({ records: 100_000, bytes: 32 * 1024 * 1024, intakeBytes: GiB });
    expect(backlogBounds({ BEACON_BACKLOG_RECORDS: '5000', BEACON_BACKLOG_MB: '0.5', BEACON_INTAKE_MB: '2' })).toEqual({
      records: 5000,
      bytes: 512 * 1024,
      intakeBytes: 2 * 1024 * 1024,
    });
    expect(backlogBounds({ BEACON_BACKLOG_RECORDS: 'lots', BEACON_BACKLOG_MB: '-1', BEACON_INTAKE_MB: '0' })).toEqual({
      records: 100_000,
      bytes: 32 * 1024 * 1024,
      intakeBytes: GiB,
    });
  });

  it('stops accepting at the byte bound, names the store fault, never evicts what it accepted, and commits it all on recovery', async () => {
    const store = failingStore();
    const stats = new Stats();
    const batcher = new Batcher(store, stats, pino({ level: 'silent' }), {
      flushMs: 20,
      bounds: { records: 1_000_000, bytes: 64 * 1024, intakeBytes: 1 << 30 },
    });
    let accepted = 0;
    expect(batcher.dropReason()).toBe('store_slow');
    for (let round = 0; round < 20; round++) {
      while (batcher.hasRoom()) {
        batcher.add(rec());
        accepted++;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    // ~400 bytes a record: the bound, not the record count, stopped it.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(200);
    expect(batcher.pending).toBe(accepted);
    expect(batcher.pendingBytes).toBeGreaterThanOrEqual(64 * 1024);
    expect(batcher.pendingBytes).toBeLessThan(64 * 1024 + 1024);
    expect(batcher.dropReason()).toBe('disk_full');
    store.ok = true;
    expect(await batcher.close()).toBe(true);
    expect(store.written).toBe(accepted);
    expect(batcher.dropReason()).toBe('store_slow');
  });
});
