import type { Logger } from 'pino';
import type { CounterDelta, IngestRecord, RunStore, WriteResult } from '../store/types.js';
import { WireBatchBuilder } from '../store/sqlite/wire-batch.js';
import type { Stats } from './observe/stats.js';

/** Past this many records a batch is written at once instead of waiting for the timer. */
const DEFAULT_MAX_BATCH = 8192;
/**
 * Accepted records wait in memory for the store up to this many (a slow or failing store: disk
 * full, a long prune holding the lock). Past it, new datagrams are dropped and counted as
 * overload_drops rather than letting memory grow without bound.
 */
export const MAX_PENDING = 100_000;
/** A failing store is logged at most this often. */
const ERROR_LOG_INTERVAL_MS = 10_000;

export interface BatcherOptions {
  flushMs: number;
  maxBatch?: number;
}

/**
 * Accepted records waiting for the store: a plain list, or (for the store thread) already encoded
 * in wire form as they arrive, so no record object outlives its datagram.
 */
interface Pending {
  readonly count: number;
  add(r: IngestRecord): void;
  write(store: RunStore, counters: readonly CounterDelta[]): Promise<WriteResult>;
}

class RecordList implements Pending {
  private readonly records: IngestRecord[] = [];
  get count(): number {
    return this.records.length;
  }
  add(r: IngestRecord): void {
    this.records.push(r);
  }
  write(store: RunStore, counters: readonly CounterDelta[]): Promise<WriteResult> {
    return store.writeBatch(this.records, counters);
  }
}

class WireList implements Pending {
  private readonly builder = new WireBatchBuilder();
  get count(): number {
    return this.builder.count;
  }
  add(r: IngestRecord): void {
    this.builder.add(r);
  }
  write(store: RunStore, counters: readonly CounterDelta[]): Promise<WriteResult> {
    // Chosen only for a store that has writeWire (see the constructor); checked, not assumed.
    if (!store.writeWire) return Promise.reject(new Error(`the ${store.kind} store takes no wire batches`));
    return store.writeWire(this.builder.finish(), counters);
  }
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
  private writing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly maxBatch: number;
  private soon = false;
  private lastErrorLog = 0;
  private failures = 0;
  /** Records handed to the store whose commit has not finished yet. */
  private inFlight = 0;
  lastFlushMs = 0;

  constructor(
    private readonly store: RunStore,
    private readonly stats: Stats,
    private readonly log: Logger,
    opts: BatcherOptions,
  ) {
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    this.current = this.newPending();
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
  }

  /** Accepted and not yet committed: queued, failed and waiting, and in the commit under way. */
  get pending(): number {
    return this.current.count + this.failedCount + this.inFlight;
  }

  /** false when the queue is full: the caller drops the datagram (and counts it). */
  hasRoom(): boolean {
    return this.current.count + this.failedCount < MAX_PENDING;
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
    const deltas = this.stats.takeDeltas();
    const started = performance.now();
    this.writing = this.writeInOrder(batches, deltas, started);
    try {
      await this.writing;
    } finally {
      this.inFlight = 0;
      this.writing = undefined;
    }
  }

  /** Final flush at shutdown: retries a failing store a few times before giving up. */
  async close(attempts = 5): Promise<boolean> {
    clearInterval(this.timer);
    for (let i = 0; i < attempts; i++) {
      await this.flush();
      if (this.current.count === 0 && this.failedCount === 0 && !this.stats.hasPending()) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  private newPending(): Pending {
    return this.store.writeWire ? new WireList() : new RecordList();
  }

  /** The counter increments ride with the first batch; a failure keeps that batch and all later ones. */
  private async writeInOrder(batches: Pending[], deltas: readonly CounterDelta[], started: number): Promise<void> {
    let counters = deltas;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      this.inFlight = b.count;
      try {
        const r = await b.write(this.store, counters);
        this.stats.written(r);
        counters = [];
      } catch (e) {
        if (counters.length > 0) this.stats.restore(counters);
        this.keepFailed(batches.slice(i), e);
        return;
      }
    }
    this.lastFlushMs = performance.now() - started;
    if (this.failures > 0) this.log.info({ failures: this.failures }, 'store writes recovered');
    this.failures = 0;
  }

  /** Keep what was accepted for the next flush; the store's transaction rolled back. */
  private keepFailed(batches: Pending[], e: unknown): void {
    this.failed = batches.concat(this.failed);
    this.failedCount = this.failed.reduce((n, b) => n + b.count, 0);
    // Past the bound, the oldest batches go (counted): memory must not grow without limit.
    let dropped = 0;
    while (this.failedCount + this.current.count > MAX_PENDING && this.failed.length > 0) {
      const old = this.failed.shift();
      if (old === undefined) break;
      this.failedCount -= old.count;
      dropped += old.count;
    }
    if (dropped > 0) this.stats.count('overload_drops', new Date().toISOString().slice(0, 10), dropped);
    this.failures++;
    const now = Date.now();
    if (now - this.lastErrorLog >= ERROR_LOG_INTERVAL_MS) {
      this.lastErrorLog = now;
      this.log.error(
        { err: e instanceof Error ? e.message : String(e), failures: this.failures, pending: this.failedCount + this.current.count },
        'store write failed; will retry',
      );
    }
  }
}
