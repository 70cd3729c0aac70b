import type { Logger } from 'pino';
import type { DiskQueue } from './disk-queue.js';
import type { RelayStats } from './relay-stats.js';
import type { SendOutcome, Upstream } from './upstream.js';

/** A batch's body is kept under this (the collector's default limit is 1 MiB, and a proxy's often 1 MB). */
export const MAX_BATCH_BYTES = 512 * 1024;
/** Batches kept in memory (at most 8 MiB) waiting for upstream before they go to disk. */
const MAX_READY = 16;
const SEND_TIMEOUT_MS = 15_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

interface Batch {
  body: Buffer;
  count: number;
}

/**
 * Collects accepted datagrams into batches (every `batchMs`, or sooner when one is full), sends
 * them upstream one at a time, oldest first: the disk queue before memory. While upstream fails,
 * batches go to the disk queue and sending retries with a growing pause (0.5 s → 30 s); when it
 * answers again, the queue drains. Nothing accepted is dropped unless the queue is full or the
 * disk refuses the write, and every such datagram is counted.
 */
export class Forwarder {
  private lines: Buffer[] = [];
  private lineBytes = 0;
  private ready: Batch[] = [];
  private readonly timer: NodeJS.Timeout;
  private wake: (() => void) | undefined;
  private pumping: Promise<void>;
  private stopping = false;
  private backoff = 0;
  private sleeping: NodeJS.Timeout | undefined;
  private stopWake: (() => void) | undefined;
  private lastDropLog = 0;
  /** Upstream failed and has not answered since. */
  down = false;

  constructor(
    private readonly upstream: Upstream,
    private readonly queue: DiskQueue,
    private readonly stats: RelayStats,
    private readonly log: Logger,
    batchMs: number,
  ) {
    this.timer = setInterval(() => this.cut(), batchMs);
    this.pumping = this.pump();
  }

  /** Datagrams accepted and not yet forwarded: in memory and on disk. */
  get pending(): number {
    return this.lines.length + this.ready.reduce((n, b) => n + b.count, 0) + this.queue.datagrams;
  }

  /** One accepted datagram (its own copy of the bytes, with no newline in it). */
  add(datagram: Buffer): void {
    if (this.lineBytes + datagram.length + 1 > MAX_BATCH_BYTES) this.cut();
    this.lines.push(datagram);
    this.lineBytes += datagram.length + 1;
  }

  private cut(): void {
    if (this.lines.length === 0) return;
    const parts: Buffer[] = [];
    for (const l of this.lines) parts.push(l, NEWLINE);
    const batch = { body: Buffer.concat(parts, this.lineBytes), count: this.lines.length };
    this.lines = [];
    this.lineBytes = 0;
    // Upstream is down, or a backlog is waiting: straight to disk, behind the older batches.
    if (this.down || this.ready.length >= MAX_READY || this.stopping) this.spill(batch);
    else this.ready.push(batch);
    this.wake?.();
  }

  private spill(batch: Batch): void {
    let b = batch;
    if (!this.queue.fits(b.body.length, b.count)) {
      // Keep the datagrams that still fit within the bound, drop (and count) the rest.
      const kept = fittingPrefix(b, this.queue.maxBytes - this.queue.bytes, this.queue.maxDatagrams - this.queue.datagrams);
      const dropped = b.count - (kept?.count ?? 0);
      this.stats.queueDrops += dropped;
      const now = Date.now();
      if (now - this.lastDropLog > 10_000) {
        this.lastDropLog = now;
        this.log.warn(
          { dropped: this.stats.queueDrops, queueBytes: this.queue.bytes, queueDatagrams: this.queue.datagrams },
          'queue full: new datagrams are dropped',
        );
      }
      if (!kept) return;
      b = kept;
    }
    try {
      this.queue.push(b.body, b.count);
      this.stats.queued += b.count;
    } catch (e) {
      this.stats.queueDrops += b.count;
      // A full disk fails every batch: one line every 10 s, with the running total, is enough.
      const now = Date.now();
      if (now - this.lastDropLog > 10_000) {
        this.lastDropLog = now;
        this.log.error(
          { err: (e as NodeJS.ErrnoException).code ?? String(e), dropped: this.stats.queueDrops },
          'cannot write to the queue directory: datagrams dropped',
        );
      }
    }
  }

  /** The next batch to send: the oldest on disk, else the oldest in memory. */
  private next(): { batch: Batch; fromDisk: boolean } | undefined {
    for (;;) {
      const seg = this.queue.peek();
      if (!seg) break;
      try {
        return { batch: { body: this.queue.read(seg), count: seg.count }, fromDisk: true };
      } catch (e) {
        // An unreadable segment (removed by hand, disk error) must not block the queue forever.
        this.stats.queueDrops += seg.count;
        this.log.error({ err: (e as NodeJS.ErrnoException).code ?? String(e), segment: seg.name }, 'unreadable queue segment dropped');
        this.queue.shift();
      }
    }
    const b = this.ready.shift();
    return b ? { batch: b, fromDisk: false } : undefined;
  }

  private async pump(): Promise<void> {
    while (!this.stopping) {
      const item = this.next();
      if (!item) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      const outcome = await this.upstream.send(item.batch.body, SEND_TIMEOUT_MS);
      this.settle(item, outcome);
      if (outcome.result === 'retry' && !this.stopping) await this.pause();
    }
  }

  private settle(item: { batch: Batch; fromDisk: boolean }, o: SendOutcome): void {
    if (o.result === 'ok') {
      if (item.fromDisk) this.queue.shift();
      this.stats.forwarded += item.batch.count;
      if (this.down) this.log.info({ queued: this.queue.datagrams }, 'upstream is back; draining the queue');
      this.down = false;
      this.backoff = 0;
      return;
    }
    if (o.result === 'split') {
      const halves = splitBatch(item.batch);
      if (item.fromDisk) this.queue.shift();
      if (!halves) {
        this.stats.upstreamRefused += item.batch.count;
        this.log.error({ bytes: item.batch.body.length }, 'upstream refused a single datagram as too large: dropped');
        return;
      }
      // Halves go to the front of memory: sent next, in order.
      this.ready.unshift(...halves);
      return;
    }
    this.stats.upstreamFailures++;
    if (!this.down) this.log.warn({ why: o.why, status: o.status }, 'upstream unreachable; queueing on disk');
    this.down = true;
    if (!item.fromDisk) this.spill(item.batch);
    // Everything waiting in memory joins the disk queue, in order, behind it.
    for (const b of this.ready.splice(0)) this.spill(b);
  }

  private pause(): Promise<void> {
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff ? this.backoff * 2 : BACKOFF_MIN_MS);
    // New data does not cut a pause short (cut() finds no `wake` while sending or pausing); stop() does.
    return new Promise<void>((r) => {
      this.sleeping = setTimeout(r, this.backoff);
      this.stopWake = r;
    });
  }

  /**
   * SIGTERM: forward what is in memory if upstream answers within `graceMs`, else put it on disk
   * for the next start. Resolves once every accepted datagram is upstream or in the queue.
   */
  async stop(graceMs = 5000): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + graceMs;
    this.cut();
    this.stopping = true;
    clearTimeout(this.sleeping);
    this.stopWake?.();
    this.wake?.();
    await this.pumping;
    this.cut();
    while (this.ready.length > 0) {
      const b = this.ready.shift()!;
      const left = deadline - Date.now();
      if (this.down || left <= 0) {
        this.spill(b);
        continue;
      }
      const o = await this.upstream.send(b.body, left);
      if (o.result === 'ok') this.stats.forwarded += b.count;
      else {
        this.down = true;
        this.spill(b);
      }
    }
    this.upstream.close();
  }
}

const NEWLINE = Buffer.from('\n');

/** The first lines of a batch that fit in `bytes` and `count`; undefined if not even one does. */
function fittingPrefix(b: Batch, bytes: number, count: number): Batch | undefined {
  let end = 0;
  let n = 0;
  while (n < count && end < b.body.length) {
    const nl = b.body.indexOf(0x0a, end);
    const next = nl < 0 ? b.body.length : nl + 1;
    if (next > bytes) break;
    end = next;
    n++;
  }
  return n > 0 ? { body: b.body.subarray(0, end), count: n } : undefined;
}

function splitBatch(b: Batch): [Batch, Batch] | undefined {
  if (b.count < 2) return undefined;
  const lines: Buffer[] = [];
  let start = 0;
  while (start < b.body.length) {
    let end = b.body.indexOf(0x0a, start);
    if (end < 0) end = b.body.length;
    if (end > start) lines.push(b.body.subarray(start, end + 1));
    start = end + 1;
  }
  const mid = Math.ceil(lines.length / 2);
  const half = (ls: Buffer[]): Batch => ({ body: Buffer.concat(ls), count: ls.length });
  return [half(lines.slice(0, mid)), half(lines.slice(mid))];
}
