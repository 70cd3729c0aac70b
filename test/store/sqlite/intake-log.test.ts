import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writevSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSegment,
  frameParts,
  newOwnerName,
  openSegment,
  ownerGone,
  readFrame,
  SEGMENT_HEADER_BYTES,
  STALE_MS,
} from '../../../src/store/sqlite/intake-log.js';
import { openSqliteStore } from '../../../src/store/sqlite/store.js';
import { decodeBatch, encodeBatch } from '../../../src/store/sqlite/wire-batch.js';
import type { CounterDelta } from '../../../src/store/types.js';
import { rec } from '../store-contract.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function segmentWith(frames: Array<{ runs: string[]; counters: CounterDelta[] }>): { path: string; ends: number[] } {
  dir = mkdtempSync(join(tmpdir(), 'intake-'));
  const owner = join(dir, 'usage.db.intake', newOwnerName());
  const fd = createSegment(owner, 1);
  let pos = SEGMENT_HEADER_BYTES;
  const ends: number[] = [];
  for (const f of frames) {
    const { parts, bytes } = frameParts(encodeBatch(f.runs.map((r) => rec('start', r))), f.counters);
    expect(writevSync(fd, parts, pos)).toBe(bytes);
    pos += bytes;
    ends.push(pos);
  }
  closeSync(fd);
  return { path: join(owner, '0000000001.log'), ends };
}

describe('intake log frames', () => {
  it('round-trip: every record and counter read back as written, frame by frame, up to a limit', () => {
    const a = [randomUUID(), randomUUID()];
    const b = [randomUUID()];
    const counters: CounterDelta[] = [{ day: '2026-12-02', counts: { received: 3, 'rejected.not_json': 1 } }];
    const { path, ends } = segmentWith([
      { runs: a, counters },
      { runs: b, counters: [] },
    ]);
    const fd = openSegment(path);
    try {
      const first = readFrame(fd, SEGMENT_HEADER_BYTES, Infinity);
      if (!('frame' in first)) throw new Error('no frame');
      expect(decodeBatch(first.frame.batch).map((r) => r.run)).toEqual(a);
      expect(first.frame.counters).toEqual(counters);
      expect(first.frame.end).toBe(ends[0]);
      // The appender said the log ends after the first frame: the second is not read yet.
      expect(readFrame(fd, ends[0]!, ends[0]!)).toEqual({ end: true });
      const second = readFrame(fd, ends[0]!, ends[1]!);
      if (!('frame' in second)) throw new Error('no frame');
      expect(decodeBatch(second.frame.batch).map((r) => r.run)).toEqual(b);
      expect(readFrame(fd, ends[1]!, Infinity)).toEqual({ end: true });
    } finally {
      closeSync(fd);
    }
  });

  it('a flipped byte fails the checksum; a frame cut short is damaged, not decoded', () => {
    const { path, ends } = segmentWith([{ runs: [randomUUID(), randomUUID()], counters: [] }]);
    const buf = readFileSync(path);
    buf[ends[0]! - 10]! ^= 0xff;
    writeFileSync(path, buf);
    let fd = openSegment(path);
    expect(readFrame(fd, SEGMENT_HEADER_BYTES, Infinity)).toEqual({ damaged: 'checksum mismatch' });
    closeSync(fd);
    writeFileSync(path, buf.subarray(0, ends[0]! - 5));
    fd = openSegment(path);
    expect(readFrame(fd, SEGMENT_HEADER_BYTES, Infinity)).toEqual({ damaged: 'a frame cut short' });
    closeSync(fd);
    writeFileSync(path, Buffer.concat([buf.subarray(0, SEGMENT_HEADER_BYTES), Buffer.alloc(64)]));
    fd = openSegment(path);
    expect(readFrame(fd, SEGMENT_HEADER_BYTES, Infinity)).toEqual({ damaged: 'no frame where one should start' });
    closeSync(fd);
    writeFileSync(path, 'not a segment at all');
    expect(() => openSegment(path)).toThrow('not an intake segment');
  });

  it('the owner of a log is gone when its pid names no process, or is this process’s own pid with a stale heartbeat', () => {
    dir = mkdtempSync(join(tmpdir(), 'intake-'));
    const mine = join(dir, `${process.pid}-00000000`);
    mkdirSync(mine);
    const seg = join(mine, '0000000001.log');
    closeSync(openSync(seg, 'w'));
    // Same pid (a container's pid 1 after a restart): alive while its heartbeat is fresh.
    expect(ownerGone(`${process.pid}-00000000`, mine)).toBe(false);
    const old = (Date.now() - STALE_MS - 5_000) / 1000;
    utimesSync(seg, old, old);
    expect(ownerGone(`${process.pid}-00000000`, mine)).toBe(true);
    // Another live process (the test runner's parent): alive, whatever its heartbeat.
    expect(ownerGone(`${process.ppid}-00000000`, mine)).toBe(false);
    // A pid above Linux's maximum names no process.
    expect(ownerGone('4194400-00000000', mine)).toBe(true);
    expect(newOwnerName()).toMatch(new RegExp(`^${process.pid}-[0-9a-f]{8}$`));
  });
});

describe('SqliteStore.mergeIntake', () => {
  it('merges a log exactly once: a second merger from a stale position writes nothing and says why', () => {
    dir = mkdtempSync(join(tmpdir(), 'intake-'));
    const db = join(dir, 'usage.db');
    const a = openSqliteStore(db);
    const b = openSqliteStore(db);
    try {
      const runs = [rec('start', randomUUID()), rec('start', randomUUID())];
      const counters: CounterDelta[] = [{ day: '2026-12-02', counts: { received: 2 } }];
      // Both adopted the same log, with no merge position stored yet.
      expect(a.mergeIntake(runs, counters, 'o-1', undefined, { segment: 1, offset: 500 })).toEqual({ stored: 2, duplicates: 0 });
      expect(() => b.mergeIntake(runs, counters, 'o-1', undefined, { segment: 1, offset: 500 })).toThrow(
        expect.objectContaining({ code: 'BEACON_INTAKE_RACE' }),
      );
      // From the stored position, the next frames go in.
      const more = [rec('start', randomUUID())];
      expect(b.mergeIntake(more, [], 'o-1', { segment: 1, offset: 500 }, { segment: 1, offset: 700 }, true)).toEqual({
        stored: 1,
        duplicates: 0,
      });
      // Done: no one merges it again, from any position.
      expect(() => a.mergeIntake(more, [], 'o-1', { segment: 1, offset: 700 }, { segment: 1, offset: 900 })).toThrow(
        expect.objectContaining({ code: 'BEACON_INTAKE_RACE' }),
      );
      expect(a.db.prepare('SELECT count(*) AS n FROM run_facts').get()).toEqual({ n: 3 });
      expect(a.db.prepare("SELECT value FROM daily_counters WHERE name = 'received'").get()).toEqual({ value: 2 });
      expect(a.intakeMarks().get('o-1')).toMatchObject({ segment: 1, offset: 700, done: true });
      // A week later the finished log is forgotten.
      a.forgetFinishedIntakes(Date.now() + 8 * 86_400_000);
      expect(a.intakeMarks().has('o-1')).toBe(false);
    } finally {
      void a.close();
      void b.close();
    }
  });
});
