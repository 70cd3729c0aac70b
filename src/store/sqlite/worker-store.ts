import { closeSync, ftruncateSync, futimes, writev } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BeaconError, ERROR_CODES, type ErrorCode } from '../../errors.js';
import type { CounterDelta, IngestRecord, RunStore, WireBatch, WriteResult } from '../types.js';
import { encodeBatch } from './wire-batch.js';
import { createSegment, frameParts, HEARTBEAT_MS, intakeRoot, newOwnerName, SEGMENT_HEADER_BYTES, segmentBytes } from './intake-log.js';
import type { FromStoreThread, StoreThreadData, ToStoreThread } from './store-thread.js';

/** What the store thread reports besides results: for the receiver's log and metrics. */
export interface StoreThreadEvents {
  /** A merge transaction committed: what the store did with its records. */
  merged?(r: WriteResult): void;
  /** A merge failed and will be retried (disk full, locked, read-only). */
  mergeFailed?(message: string, code: string | undefined): void;
  /** Part of an intake log could not be read (a kill or power loss during its last write). */
  damaged?(file: string, offset: number, why: string): void;
  /** A log left by a process that is gone is being merged. */
  adopted?(owner: string): void;
}

/** How long close() lets the store thread merge what is left before it stops (the rest waits in the log). */
const DRAIN_MS = 30_000;

/**
 * A RunStore whose batches are committed by appending them to this process's intake log
 * (src/store/sqlite/intake-log.ts), an asynchronous write from this thread, and merged into
 * SQLite by a worker thread (src/store/sqlite/store-thread.ts) behind it. A batch's promise
 * resolves once its frame is written: it is then as durable as a SQLite commit, and its stored and
 * duplicate counts come later, from the merge (StoreThreadEvents.merged). The receiver uses it
 * unless $BEACON_STORE_THREAD=off (src/receiver/options.ts says why).
 */
export class WorkerStore implements RunStore {
  readonly kind = 'sqlite' as const;
  private exited = false;
  private fd: number;
  private segment: number;
  private end = SEGMENT_HEADER_BYTES;
  /** Records and frame bytes appended by this process and not merged yet. */
  private unmergedRecords = 0;
  private unmergedFrameBytes = 0;
  /** Set by on(); the store thread's reports wait in `early` until then. */
  private events: StoreThreadEvents | undefined;
  private early: FromStoreThread[];
  private closed: Promise<boolean> | undefined;

  /** The store thread's OS thread id (Linux), for per-thread CPU accounting. */
  readonly tid: number | undefined;
  /** The store thread's nice value, when it could be set. */
  readonly nice: number | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly dir: string,
    fd: number,
    segment: number,
    open: { tid?: number; nice?: number },
    early: FromStoreThread[],
  ) {
    this.early = early;
    this.fd = fd;
    this.segment = segment;
    this.tid = open.tid;
    this.nice = open.nice;
    worker.on('message', (m: FromStoreThread) => {
      if (this.events === undefined) this.early.push(m);
      else this.handle(m);
    });
    worker.on('error', (e) => this.events?.mergeFailed?.(`store thread failed: ${e.message}`, 'BEACON_STORE_THREAD'));
    worker.on('exit', () => {
      this.exited = true;
    });
    // Tells other receivers on this store that this log has a live owner (ownerGone), traffic or not.
    this.heartbeat = setInterval(() => {
      const now = new Date();
      futimes(this.fd, now, now, () => {});
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private readonly heartbeat: NodeJS.Timeout;
  private readonly segmentLimit = segmentBytes();

  private handle(m: FromStoreThread): void {
    {
      if (m.type === 'merged') {
        if (m.own) {
          this.unmergedRecords = Math.max(0, this.unmergedRecords - m.records);
          this.unmergedFrameBytes = Math.max(0, this.unmergedFrameBytes - m.bytes);
        }
        this.events?.merged?.({ stored: m.stored, duplicates: m.duplicates });
      } else if (m.type === 'merge-failed') this.events?.mergeFailed?.(m.message, m.code);
      else if (m.type === 'damaged') this.events?.damaged?.(m.file, m.offset, m.why);
      else if (m.type === 'adopted') this.events?.adopted?.(m.owner);
    }
  }

  /**
   * Opens the store thread and this process's intake log: a new directory under `<db>.intake/`
   * (logs that receivers which are gone left there are merged by the store thread).
   */
  static async open(path: string): Promise<WorkerStore> {
    const root = intakeRoot(path);
    const owner = newOwnerName();
    const dir = join(root, owner);
    const live = 1;
    let fd: number;
    try {
      fd = createSegment(dir, live);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot open SQLite store ${path}: cannot create its intake log: ${why}`, {
        cause: e,
      });
    }
    const data: StoreThreadData = { path, root, owner, live };
    const worker = new Worker(new URL('./store-thread.js', import.meta.url), { workerData: data });
    // One listener from the start: what the thread reports right after 'open' (a log it adopted)
    // may arrive before the WorkerStore exists, and is kept for it.
    const later: FromStoreThread[] = [];
    let onFirst: ((m: FromStoreThread) => void) | undefined;
    const listener = (m: FromStoreThread): void => {
      if (onFirst) onFirst(m);
      else later.push(m);
    };
    worker.on('message', listener);
    const first = await new Promise<FromStoreThread>((resolve, reject) => {
      onFirst = (m) => {
        onFirst = undefined;
        resolve(m);
      };
      worker.once('error', reject);
    }).catch((e: unknown) => {
      closeSync(fd);
      throw e;
    });
    if (first.type === 'open' && first.ok) {
      worker.off('message', listener);
      return new WorkerStore(worker, dir, fd, live, first, later);
    }
    closeSync(fd);
    await worker.terminate();
    const f = first as { code?: string; message: string };
    const code: ErrorCode = f.code && f.code in ERROR_CODES ? (f.code as ErrorCode) : 'BEACON_ERR_DB_OPEN';
    throw new BeaconError(code, f.message);
  }

  /** Where the store thread's reports go (the receiver's log and metrics). */
  on(events: StoreThreadEvents): void {
    this.events = events;
    for (const m of this.early.splice(0)) this.handle(m);
  }

  /** Records appended and not yet merged into SQLite (durable, not yet in reports). */
  get unmerged(): number {
    return this.unmergedRecords;
  }

  /** Their size in the log. */
  get unmergedBytes(): number {
    return this.unmergedFrameBytes;
  }

  writeBatch(records: readonly IngestRecord[], counters: readonly CounterDelta[]): Promise<WriteResult> {
    return this.writeWire(encodeBatch(records), counters);
  }

  /**
   * Appends the batch as one frame. The caller keeps the batch's arrays unchanged until this
   * settles (the batcher does: a batch being written is never added to). Calls are serialized by
   * the caller too (the batcher writes one batch at a time). A failed write (ENOSPC, EIO) leaves
   * the log's end where it was: the next frame is written over whatever part of this one landed.
   */
  writeWire(batch: WireBatch, counters: readonly CounterDelta[]): Promise<WriteResult> {
    if (this.exited || this.closed) return Promise.reject(new Error('store thread exited'));
    const { parts, bytes } = frameParts(batch, counters);
    const at = this.end;
    return new Promise((resolve, reject) => {
      writev(this.fd, parts, at, (err, written) => {
        if (err || written !== bytes) {
          // Cut what landed, so a reader after a kill finds a clean end (best effort: the next frame
          // overwrites it anyway). Synchronous, so it cannot run after the next frame's write.
          try {
            ftruncateSync(this.fd, at);
          } catch {
            // the disk that failed the write may fail this too
          }
          // A short write to a regular file is the filesystem running out of room part way.
          reject(
            err ??
              Object.assign(new Error(`short write to the intake log (${written} of ${bytes} bytes): no space left`), { code: 'ENOSPC' }),
          );
          return;
        }
        this.end = at + bytes;
        this.unmergedRecords += batch.count;
        this.unmergedFrameBytes += bytes;
        this.post({ type: 'appended', segment: this.segment, end: this.end });
        if (this.end >= this.segmentLimit) this.rotate();
        resolve({ stored: 0, duplicates: 0 });
      });
    });
  }

  /** Starts the next segment; the store thread deletes the old one once merged. */
  private rotate(): void {
    try {
      const fd = createSegment(this.dir, this.segment + 1);
      closeSync(this.fd);
      this.fd = fd;
      this.segment++;
      this.end = SEGMENT_HEADER_BYTES;
      this.post({ type: 'appended', segment: this.segment, end: this.end });
    } catch {
      // No room for a new file: keep appending to this one, and try again after the next frame.
    }
  }

  private post(m: ToStoreThread): void {
    if (!this.exited) this.worker.postMessage(m);
  }

  /**
   * Stops appending, lets the store thread merge what is left (at most DRAIN_MS; the rest is
   * merged by the next start) and closes it. Resolves true when everything was merged.
   */
  close(drainMs = DRAIN_MS): Promise<void> {
    void this.closeAndReport(drainMs);
    return this.closed!.then(() => undefined);
  }

  closeAndReport(drainMs = DRAIN_MS): Promise<boolean> {
    if (this.closed) return this.closed;
    this.closed = new Promise<boolean>((resolve) => {
      if (this.exited) {
        resolve(false);
        return;
      }
      let all = false;
      this.worker.on('message', (m: FromStoreThread) => {
        if (m.type === 'closed') all = !m.unmerged;
      });
      this.worker.once('exit', () => resolve(all));
      this.post({ type: 'close', drainMs });
    }).finally(() => {
      clearInterval(this.heartbeat);
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    });
    return this.closed;
  }
}
