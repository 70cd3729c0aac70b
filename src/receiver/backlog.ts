import type { CounterDelta, IngestRecord, RunStore, WriteResult } from '../store/types.js';
import type { WireBatch } from '../store/types.js';
import { encodeBatch, WireBatchBuilder } from '../store/sqlite/wire-batch.js';

/**
 * How much the receiver holds in memory for a store that is slow or failing (disk full, read-only,
 * locked, PostgreSQL restarting): accepted datagrams not yet committed, whichever bound is reached
 * first. Past it, new datagrams are dropped and counted (overload_drops, by the store's fault);
 * nothing already accepted is ever evicted. The bytes are the records' encoded form (their strings
 * as UTF-8 plus 88 bytes of lengths and numbers each), which is also what a spill file holds, so
 * the bound is the spill file's size too. A typical record is ~300 bytes: 100,000 of them ~30 MB.
 */
export interface BacklogBounds {
  records: number;
  bytes: number;
  /**
   * The SQLite intake log (src/store/sqlite/intake-log.ts): bytes appended and not yet merged.
   * Past it the receiver drops and counts as it does for a full backlog: the merge has fallen
   * this far behind. On disk, so it can be far larger than the memory bounds.
   */
  intakeBytes: number;
}

export const DEFAULT_BACKLOG_RECORDS = 100_000;
export const DEFAULT_BACKLOG_MB = 32;
export const DEFAULT_INTAKE_MB = 1024;

/**
 * $BEACON_BACKLOG_RECORDS, $BEACON_BACKLOG_MB and $BEACON_INTAKE_MB (positive numbers), else the defaults. Read once,
 * by resolveReceiveOptions (src/receiver/options.ts).
 */
export function backlogBounds(env: NodeJS.ProcessEnv): BacklogBounds {
  const num = (v: string | undefined, dflt: number): number => {
    const n = v === undefined || v.trim() === '' ? NaN : Number(v);
    return Number.isFinite(n) && n > 0 ? n : dflt;
  };
  return {
    records: Math.floor(num(env.BEACON_BACKLOG_RECORDS, DEFAULT_BACKLOG_RECORDS)),
    bytes: Math.floor(num(env.BEACON_BACKLOG_MB, DEFAULT_BACKLOG_MB) * 1024 * 1024),
    intakeBytes: Math.floor(num(env.BEACON_INTAKE_MB, DEFAULT_INTAKE_MB) * 1024 * 1024),
  };
}

/** Per record beyond its strings: 10 lengths (Int32) and 6 numbers (Float64) in wire form. */
const FIXED_BYTES = 10 * 4 + 6 * 8;

/**
 * Accepted records waiting for the store: a plain list, or (for the store thread) already encoded
 * in wire form as they arrive, so no record object outlives its datagram.
 */
export interface Pending {
  readonly count: number;
  readonly bytes: number;
  add(r: IngestRecord): void;
  write(store: RunStore, counters: readonly CounterDelta[]): Promise<WriteResult>;
  /** The records in wire form (for a spill file). */
  wire(): WireBatch;
}

function textLength(s: string | null): number {
  return s === null ? 0 : s.length;
}

export class RecordList implements Pending {
  private readonly records: IngestRecord[] = [];
  private size = 0;
  get count(): number {
    return this.records.length;
  }
  get bytes(): number {
    return this.size;
  }
  add(r: IngestRecord): void {
    this.records.push(r);
    // UTF-16 units: the same as UTF-8 bytes for the ASCII that nearly every field is.
    this.size +=
      FIXED_BYTES +
      r.run.length +
      r.project.length +
      textLength(r.user_id) +
      textLength(r.host_id) +
      textLength(r.script_id) +
      textLength(r.version) +
      textLength(r.runtime) +
      textLength(r.os) +
      textLength(r.arch) +
      textLength(r.components);
  }
  write(store: RunStore, counters: readonly CounterDelta[]): Promise<WriteResult> {
    return store.writeBatch(this.records, counters);
  }
  wire(): WireBatch {
    return encodeBatch(this.records);
  }
}

export class WireList implements Pending {
  private readonly builder = new WireBatchBuilder();
  get count(): number {
    return this.builder.count;
  }
  get bytes(): number {
    return this.builder.usedBytes;
  }
  add(r: IngestRecord): void {
    this.builder.add(r);
  }
  write(store: RunStore, counters: readonly CounterDelta[]): Promise<WriteResult> {
    return store.writeWire!(this.builder.finish(), counters);
  }
  wire(): WireBatch {
    return this.builder.finish();
  }
}
