import { Worker } from 'node:worker_threads';
import { BeaconError, ERROR_CODES, type ErrorCode } from '../../errors.js';
import type { CounterDelta, IngestRecord, RunStore, WireBatch, WriteResult } from '../types.js';
import { encodeBatch, transferables } from './wire-batch.js';
import type { FromStoreThread, ToStoreThread } from './store-thread.js';

/**
 * A RunStore that runs the SQLite store in a worker thread, so the thread reading the socket never
 * waits for a commit. Batches cross in the flat form of batch-wire.ts (a structured clone of the
 * record objects cost about twice as much); the receiver uses it unless $BEACON_STORE_THREAD=off (src/receiver/options.ts says why).
 */
export class WorkerStore implements RunStore {
  readonly kind = 'sqlite' as const;
  private nextId = 1;
  private exited = false;
  private readonly waiting = new Map<number, { resolve: (r: WriteResult) => void; reject: (e: Error) => void }>();

  /** The store thread's OS thread id (Linux), for per-thread CPU accounting. */
  readonly tid: number | undefined;

  private constructor(
    private readonly worker: Worker,
    tid?: number,
  ) {
    this.tid = tid;
    worker.on('message', (m: FromStoreThread) => {
      if (m.type !== 'done' && m.type !== 'failed') return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.type === 'done') w?.resolve({ stored: m.stored, duplicates: m.duplicates });
      else w?.reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
    });
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', () => {
      this.exited = true;
      this.failAll(new Error('store thread exited'));
    });
  }

  static async open(path: string): Promise<WorkerStore> {
    const worker = new Worker(new URL('./store-thread.js', import.meta.url), { workerData: { path } });
    const first = await new Promise<FromStoreThread>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.type === 'open' && first.ok) return new WorkerStore(worker, first.tid);
    await worker.terminate();
    const f = first as { code?: string; message: string };
    const code: ErrorCode = f.code && f.code in ERROR_CODES ? (f.code as ErrorCode) : 'BEACON_ERR_DB_OPEN';
    throw new BeaconError(code, f.message);
  }

  writeBatch(records: readonly IngestRecord[], counters: readonly CounterDelta[]): Promise<WriteResult> {
    return this.writeWire(encodeBatch(records), counters);
  }

  /**
   * The batch's used bytes are copied into exact-size arrays that are transferred: the caller's
   * builder stays intact (a failed batch is written again) and nothing past the used part moves.
   */
  writeWire(batch: WireBatch, counters: readonly CounterDelta[]): Promise<WriteResult> {
    const id = this.nextId++;
    if (this.exited) return Promise.reject(new Error('store thread exited'));
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Real copies: `new Uint8Array(view)` and TypedArray#slice copy, but Buffer#slice does not
      // (it is a view, and transferring it would detach the builder's memory, or Node's pool).
      const copy: WireBatch = {
        count: batch.count,
        bytes: new Uint8Array(batch.bytes),
        lengths: batch.lengths.slice(),
        numbers: batch.numbers.slice(),
      };
      this.worker.postMessage({ type: 'batch', id, batch: copy, counters } satisfies ToStoreThread, transferables(copy));
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const closed = new Promise<void>((r) => this.worker.once('exit', () => r()));
    this.worker.postMessage({ type: 'close' } satisfies ToStoreThread);
    await closed;
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
