import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BeaconError } from '../errors.js';

/** One batch on disk: a file holding the exact request body (newline-delimited datagrams). */
export interface Segment {
  name: string;
  count: number;
  bytes: number;
}

const SEGMENT = /^(\d{16})-(\d+)\.ndjson$/;

/**
 * The relay's bounded on-disk queue while upstream is unreachable: one file per batch, named
 * `<sequence>-<datagrams>.ndjson`, written to a temporary name, fsync'd and renamed, so a crash
 * (or kill -9, or power loss) leaves whole batches or none. Oldest first. Past either bound
 * (bytes or datagrams) a new batch is refused and the caller counts its datagrams as dropped:
 * what is already queued is never thrown away for newer data.
 */
export class DiskQueue {
  private segments: Segment[] = [];
  private seq = 0;
  bytes = 0;
  datagrams = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    readonly maxDatagrams: number,
  ) {}

  /** Creates the directory, forgets half-written files, and picks up what a previous run left. */
  open(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      for (const f of readdirSync(this.dir)) {
        if (f.endsWith('.tmp')) {
          unlinkSync(join(this.dir, f));
          continue;
        }
        const m = SEGMENT.exec(f);
        if (!m) continue;
        const bytes = statSync(join(this.dir, f)).size;
        this.segments.push({ name: f, count: Number(m[2]), bytes });
        this.seq = Math.max(this.seq, Number(m[1]) + 1);
      }
    } catch (e) {
      throw new BeaconError(
        'BEACON_ERR_RELAY_QUEUE',
        `cannot use the queue directory ${this.dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      );
    }
    this.segments.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const s of this.segments) {
      this.bytes += s.bytes;
      this.datagrams += s.count;
    }
  }

  get length(): number {
    return this.segments.length;
  }

  /** Would a batch this size fit within both bounds? */
  fits(bytes: number, count: number): boolean {
    return this.bytes + bytes <= this.maxBytes && this.datagrams + count <= this.maxDatagrams;
  }

  /** Appends a batch. Throws on a write failure (full disk): the caller counts it as dropped. */
  push(body: Buffer, count: number): void {
    const name = `${String(this.seq++).padStart(16, '0')}-${count}.ndjson`;
    const tmp = join(this.dir, `${name}.tmp`);
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'wx', 0o600);
      let off = 0;
      while (off < body.length) off += writeSync(fd, body, off);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, join(this.dir, name));
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // Nothing was created, or it is already gone.
      }
      throw e;
    }
    this.segments.push({ name, count, bytes: body.length });
    this.bytes += body.length;
    this.datagrams += count;
  }

  peek(): Segment | undefined {
    return this.segments[0];
  }

  read(s: Segment): Buffer {
    return readFileSync(join(this.dir, s.name));
  }

  /** Forgets the oldest batch once upstream has it. */
  shift(): void {
    const s = this.segments.shift();
    if (!s) return;
    this.bytes -= s.bytes;
    this.datagrams -= s.count;
    try {
      unlinkSync(join(this.dir, s.name));
    } catch {
      // Already gone: nothing to forget.
    }
  }
}
