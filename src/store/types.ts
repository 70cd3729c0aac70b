import type { CounterName } from './counters.js';

/**
 * The store's contracts: what the receiver hands a store, and what both backends (store/sqlite/,
 * store/postgres/) implement. The narrow interface between ingest and storage. The receiver's pipeline (decode → validate →
 * dedupe → batch) produces IngestRecords and hands batches to a RunStore; it never sees SQL.
 * SQLite (default) and PostgreSQL implement it.
 */

export type WireFormat = 'native' | 'parsl-legacy' | 'parsl-1';

/** One accepted datagram, normalized to the columns of `run_facts`. */
export interface IngestRecord {
  run: string;
  kind: 'start' | 'end';
  project: string;
  format: WireFormat;
  user_id: string | null;
  host_id: string | null;
  script_id: string | null;
  /** Parsl legacy uname/hname: sent as truncated unsalted hashes; user_id/host_id hold them re-keyed with the collector secret. */
  weak_ids: boolean;
  eph: boolean;
  version: string | null;
  runtime: string | null;
  os: string | null;
  arch: string | null;
  ci: boolean | null;
  /** JSON text of the components object, or null. */
  components: string | null;
  /** Receiver clock, epoch ms, when the datagram arrived. */
  seen_ms: number;
  /** UTC YYYYMM of seen_ms. */
  month: number;
  /** Client clock from the datagram (informational only). */
  client_ms: number | null;
  exit_code: number | null;
  /**
   * From the emitter. Null on an end (Parsl legacy sends none): the store then derives it from the
   * client clocks of the start and the end once both are stored, if between 0 and one year.
   */
  duration_ms: number | null;
  /**
   * The source network's tag on the day it arrived: a keyed hash (the collector secret) of the
   * network and the UTC day, never the address (src/receiver/collector-secret.ts). Links the runs
   * of one network within one day, for the report's poisoning checks. Null or absent when unknown.
   */
  net_tag?: string | null;
}

export interface WriteResult {
  /** Records that added a start or an end to the store. */
  stored: number;
  /** Records whose (run, kind) was already stored. */
  duplicates: number;
}

/** Counter increments for one UTC day (YYYY-MM-DD). */
export interface CounterDelta {
  day: string;
  counts: Partial<Record<CounterName, number>>;
}

export interface RunStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Atomically store a batch and add counter increments (the store adds `stored` and
   * `duplicates` itself from what the batch did). After it resolves, the batch is durable.
   */
  writeBatch(records: readonly IngestRecord[], counters: readonly CounterDelta[]): Promise<WriteResult>;
  /**
   * Optional: the same for a batch already in wire form (WireBatch below), which the
   * receiver then builds record by record as datagrams are accepted. The store thread has it.
   */
  writeWire?(batch: WireBatch, counters: readonly CounterDelta[]): Promise<WriteResult>;
  /**
   * Optional: bytes committed to a durable intake log but not yet merged into the tables that
   * reports read (the SQLite store thread's). Such a store's WriteResult counts come later.
   */
  readonly unmergedBytes?: number;
  close(): Promise<void>;
}

/**
 * A batch of IngestRecords in flat form, for crossing to a store thread with one memcpy per array
 * (why, and the encoding: src/store/sqlite/wire-batch.ts, which builds and reads it).
 */
export interface WireBatch {
  count: number;
  /** The records' strings, UTF-8, back to back. */
  bytes: Uint8Array;
  lengths: Int32Array;
  numbers: Float64Array;
}

/** One step of a store's schema: applied once, in version order, never edited once shipped. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** What settling one month into its settled-run aggregates did (both stores). */
export type SettleOutcome = 'unchanged' | 'extended' | 'rebuilt' | 'raced';
