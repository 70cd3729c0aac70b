import type { Logger } from 'pino';
import type { CounterDelta, IngestRecord, RunStore } from '../store/types.js';
import { backlogBounds, RecordList, WireList, type BacklogBounds, type Pending } from './backlog.js';
import type { WireBatch } from '../store/types.js';
import type { Stats } from './observe/stats.js';
import { faultReason, type FaultReason } from './store-fault.js';

/** Past this many records a batch is written at once instead of waiting for the timer. */
const DEFAULT_MAX_BATCH = 8192;
/**
 * The default record bound of the backlog (src/receiver/backlog.ts): accepted records waiting
 * for a slow or failing store. Past it (or its byte bound), new datagrams are dropped and counted.
 */
export const MAX_PENDING = backlogBounds({}).records;
/** A failing store is logged at most this often. */
const ERROR_LOG_INTERVAL_MS = 10_000;
/**
 * A failing store is retried at least this often, whatever --flush-ms says, so commits resume
 * within a second of the store becoming writable again. Each retry writes only the oldest failed
 * batch (the first failure stops the round), so a store that stays down costs one small
 * transaction per retry, not the whole backlog.
 */
const RETRY_MS = 250;

export interface BatcherOptions {
  flushMs: number;
  maxBatch?: number;
  bounds?: BacklogBounds;
}

/** What a batcher could not commit, for a spill file: wire batches in order, and the counters. */
export interface Leftover {
  batches: WireBatch[];
  counters: CounterDelta[];
  records: number;
}

/**
 * Collects accepted records and writes them to the store in one transaction per batch, at least
 * every `flushMs` (the durability window) and as soon as a batch is full. Writes are serialized:
 * records arriving during a write join the next batch. A batch whose write fails is kept, in
 * order, and written again first on the next flush.
 */
export class Batcher {
  private current: Pending;
  /** Batches whose write failed, oldest first. */
  private failed: Pending[] = [];
  private failedCount = 0;
  private failedBytes = 0;
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly maxBatch: number;
  private readonly bounds: BacklogBounds;
  private readonly flushMs: number;
  private soon = false;
  private lastErrorLog = 0;
  private failures = 0;
  private fault: FaultReason = 'store_slow';
  private failingSince = 0;
  /** overload_drops at the last error log, so each log says how many were dropped since. */
  private dropsAtLog = 0;
  /** Records handed to the store whose commit has not finished yet. */
  private inFlight = 0;
  private inFlightBytes = 0;
  lastFlushMs = 0;

  constructor(
    private readonly store: RunStore,
    private readonly stats: Stats,
    private readonly log: Logger,
    opts: BatcherOptions,
  ) {
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    this.bounds = opts.bounds ?? backlogBounds({});
    this.flushMs = opts.flushMs;
    this.current = this.newPending();
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
  }

  /** Accepted and not yet committed: queued, failed and waiting, and in the commit under way. */
  get pending(): number {
    return this.current.count + this.failedCount + this.inFlight;
  }

  /** The same in bytes of encoded records (what the byte bound counts). */
  get pendingBytes(): number {
    return this.current.bytes + this.failedBytes + this.inFlightBytes;
  }

  /**
   * false when the backlog is full: the caller drops the datagram and counts it (overload_drops
   * and overload.<dropReason()>). Counts what is in flight too, so an accepted record is never
   * evicted to make room: what was accepted is committed or spilled at exit.
   */
  hasRoom(): boolean {
    return (
      this.pending < this.bounds.records &&
      this.pendingBytes < this.bounds.bytes &&
      (this.store.unmergedBytes === undefined || this.store.unmergedBytes < this.bounds.intakeBytes)
    );
  }

  /** Why the backlog is full: the store's current fault, or `store_slow` if it is not failing. */
  dropReason(): FaultReason {
    return this.failures > 0 ? this.fault : 'store_slow';
  }

  add(r: IngestRecord): void {
    this.current.add(r);
    if (this.current.count >= this.maxBatch && !this.soon) {
      this.soon = true;
      setImmediate(() => {
        this.soon = false;
        void this.flush();
      });
    }
  }

  /** Write everything pending (records and counter increments). Resolves when it is committed. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.current.count === 0 && this.failedCount === 0 && !this.stats.hasPending()) return;
    const batches = this.current.count > 0 || this.failed.length === 0 ? [...this.failed, this.current] : this.failed;
    if (batches.includes(this.current)) this.current = this.newPending();
    this.failed = [];
    this.failedCount = 0;
    this.failedBytes = 0;
    const deltas = this.stats.takeDeltas();
    const started = performance.now();
    this.inFlight = batches.reduce((n, b) => n + b.count, 0);
    this.inFlightBytes = batches.reduce((n, b) => n + b.bytes, 0);
    this.writing = this.writeInOrder(batches, deltas, started);
    try {
      await this.writing;
    } finally {
      this.inFlight = 0;
      this.inFlightBytes = 0;
      this.writing = undefined;
    }
  }

  /** Final flush at shutdown: retries a failing store a few times before giving up. */
  async close(attempts = 5): Promise<boolean> {
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    for (let i = 0; i < attempts; i++) {
      await this.flush();
      if (this.current.count === 0 && this.failedCount === 0 && !this.stats.hasPending()) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  /**
   * After a close() that could not commit: everything still pending, in order, with the counter
   * increments, handed over for a spill file. The batcher is empty afterwards.
   */
  takeLeftover(): Leftover {
    const parts = [...this.failed, this.current].filter((p) => p.count > 0);
    const records = parts.reduce((n, p) => n + p.count, 0);
    const out: Leftover = { batches: parts.map((p) => p.wire()), counters: this.stats.takeDeltas(), records };
    this.failed = [];
    this.failedCount = 0;
    this.failedBytes = 0;
    this.current = this.newPending();
    return out;
  }

  private newPending(): Pending {
    return this.store.writeWire ? new WireList() : new RecordList();
  }

  /** The counter increments ride with the first batch; a failure keeps that batch and all later ones. */
  private async writeInOrder(batches: Pending[], deltas: readonly CounterDelta[], started: number): Promise<void> {
    let counters = deltas;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      try {
        const r = await b.write(this.store, counters);
        this.stats.written(r);
        counters = [];
        this.inFlight -= b.count;
        this.inFlightBytes -= b.bytes;
        // Logged at the first commit after a failure: the rest of the backlog follows at the store's pace.
        if (this.failures > 0) {
          this.log.info(
            { failures: this.failures, reason: this.fault, failingMs: Date.now() - this.failingSince, pending: this.pending },
            'store writes recovered',
          );
          this.failures = 0;
        }
      } catch (e) {
        if (counters.length > 0) this.stats.restore(counters);
        this.keepFailed(batches.slice(i), e);
        return;
      }
    }
    this.lastFlushMs = performance.now() - started;
  }

  /** Keep what was accepted for the next flush; the store's transaction rolled back. */
  private keepFailed(batches: Pending[], e: unknown): void {
    this.failed = batches.concat(this.failed);
    this.failedCount = this.failed.reduce((n, b) => n + b.count, 0);
    this.failedBytes = this.failed.reduce((n, b) => n + b.bytes, 0);
    this.inFlight = 0;
    this.inFlightBytes = 0;
    if (this.failures === 0) this.failingSince = Date.now();
    this.failures++;
    this.fault = faultReason(e);
    if (this.flushMs > RETRY_MS && this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.flush();
      }, RETRY_MS);
    }
    const now = Date.now();
    if (now - this.lastErrorLog >= ERROR_LOG_INTERVAL_MS) {
      this.lastErrorLog = now;
      const drops = this.stats.totals.overload_drops;
      this.log.error(
        {
          err: e instanceof Error ? e.message : String(e),
          reason: this.fault,
          failures: this.failures,
          pending: this.pending,
          pendingMB: +(this.pendingBytes / 1048576).toFixed(1),
          droppedSinceLastLog: drops - this.dropsAtLog,
        },
        'store write failed; will retry',
      );
      this.dropsAtLog = drops;
    }
  }
}
