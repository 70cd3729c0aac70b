import type { Logger } from 'pino';
import type { IngestRecord, RunStore } from '../store/types.js';
import type { Stats } from './stats.js';

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
 * Collects accepted records and writes them to the store in one transaction per batch, at least
 * every `flushMs` (the durability window) and as soon as a batch is full. Writes are serialized:
 * records arriving during a write join the next batch.
 */
export class Batcher {
  private records: IngestRecord[] = [];
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
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
  }

  /** Accepted and not yet committed: queued plus in the commit under way. */
  get pending(): number {
    return this.records.length + this.inFlight;
  }

  /** false when the queue is full: the caller drops the datagram (and counts it). */
  hasRoom(): boolean {
    return this.records.length < MAX_PENDING;
  }

  add(r: IngestRecord): void {
    this.records.push(r);
    if (this.records.length >= this.maxBatch && !this.soon) {
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
    if (this.records.length === 0 && !this.stats.hasPending()) return;
    const records = this.records;
    this.records = [];
    const deltas = this.stats.takeDeltas();
    const started = performance.now();
    this.inFlight = records.length;
    this.writing = this.store.writeBatch(records, deltas).then(
      (r) => {
        this.stats.written(r);
        this.lastFlushMs = performance.now() - started;
        if (this.failures > 0) this.log.info({ failures: this.failures }, 'store writes recovered');
        this.failures = 0;
      },
      (e: unknown) => {
        // Keep what was accepted and retry on the next tick; the store's transaction rolled back.
        this.stats.restore(deltas);
        this.records = records.concat(this.records);
        const over = this.records.length - MAX_PENDING;
        if (over > 0) {
          this.records.splice(0, over);
          this.stats.count('overload_drops', new Date().toISOString().slice(0, 10), over);
        }
        this.failures++;
        const now = Date.now();
        if (now - this.lastErrorLog >= ERROR_LOG_INTERVAL_MS) {
          this.lastErrorLog = now;
          this.log.error(
            { err: e instanceof Error ? e.message : String(e), failures: this.failures, pending: this.records.length },
            'store write failed; will retry',
          );
        }
      },
    );
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
      if (this.records.length === 0 && !this.stats.hasPending()) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }
}
