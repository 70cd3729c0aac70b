import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CounterDelta, WireBatch } from '../types.js';

/**
 * The intake log: the SQLite store's durable front (issue 12). A receiver's batch is committed by
 * appending it, as one frame, to a segment file, which costs a write() of its bytes (~0.1 µs a
 * record) where an upsert into `run_facts` costs ~10 µs; the store thread merges the frames into
 * `run_facts` behind it, many batches per transaction, at a lower CPU priority than the thread
 * reading the socket (src/store/sqlite/store-thread.ts). So a burst is absorbed at the cost of
 * reading and validating, and the B-tree work follows when the core has time for it, as in an
 * LSM tree's memtable and compaction. A frame is as durable as a SQLite commit with
 * synchronous=NORMAL: it survives the process being killed at once (the kernel has the bytes),
 * and after a power loss the last frames before the next sync may be gone, never half-read (each
 * frame carries its SHA-256).
 *
 * Layout: `<db>.intake/<owner>/<segment>.log`. The owner is the one process that appends to the
 * directory (named by its pid and random bits: a directory is never reused), and the merge
 * position of each owner is kept in the store itself (`intake_merged`), updated in the
 * transaction that merges the frames, so a frame is merged exactly once whatever is killed when.
 * A directory whose owner is gone (killed, or stopped before its log was merged to the end) is
 * merged by the next receiver on that store (ownerGone). A segment starts with SEGMENT_MAGIC and the byte
 * order; each frame is a 48-byte header (FRAME_MAGIC, record count, string bytes, counter JSON
 * bytes, SHA-256 of the body) and a body: numbers (Float64), lengths (Int32), the strings' UTF-8,
 * then the batch's counter increments as JSON.
 */

export const SEGMENT_MAGIC = Buffer.from('UBINTAK1');
export const SEGMENT_HEADER_BYTES = 16;
const FRAME_MAGIC = 0x4b544e49; // "INTK" little-endian
export const FRAME_HEADER_BYTES = 48;
/**
 * A new segment is started past this size ($BEACON_INTAKE_SEGMENT_MB, default 64); a merged
 * segment is deleted whole, so this is also how much merged log can wait on disk for deletion.
 */
export function segmentBytes(env: NodeJS.ProcessEnv = process.env): number {
  const mb = Number(env.BEACON_INTAKE_SEGMENT_MB);
  return Math.floor((Number.isFinite(mb) && mb > 0 ? mb : 64) * 1024 * 1024);
}
const STRINGS = 11;
const NUMBERS = 6;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function intakeRoot(dbPath: string): string {
  return `${dbPath}.intake`;
}

export function segmentName(segment: number): string {
  return `${String(segment).padStart(10, '0')}.log`;
}

/** The segments of an owner's directory, ascending. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d{10}\.log$/.test(n))
    .map((n) => Number(n.slice(0, 10)))
    .sort((a, b) => a - b);
}

/** A new owner directory's name: this process's pid and random bits, so no name is ever reused. */
export function newOwnerName(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Owner directories under the root. */
export function listOwners(root: string): string[] {
  try {
    return readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^\d+-[0-9a-f]{8}$/.test(d.name))
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** The owner touches its live segment this often, so others can tell it is alive. */
export const HEARTBEAT_MS = 5_000;
/** A log whose newest segment has not changed for this long has no live owner. */
export const STALE_MS = 60_000;

/**
 * True when the process that appended to the owner directory is gone, so its log may be merged
 * by another receiver: its pid names no process on this host; or its pid is this process's own
 * (a container's pid 1 after a restart) and the log's heartbeat has stopped. A pid that names
 * another live process is taken as the owner, alive (at worst its log waits for a later start).
 * Two receivers that both decide to merge one log cannot both merge a frame: the store checks the
 * merge position in the transaction (SqliteStore.mergeIntake).
 */
export function ownerGone(owner: string, dir: string, now = Date.now()): boolean {
  const pid = Number(owner.split('-')[0]);
  if (pid !== process.pid) {
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  let newest = 0;
  try {
    for (const name of readdirSync(dir)) newest = Math.max(newest, statSync(join(dir, name)).mtimeMs);
  } catch {
    return true;
  }
  return now - newest > STALE_MS;
}

export function removeOwnerDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (a new segment) or already gone
  }
}

export function segmentHeader(): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(h, 0);
  h[8] = LITTLE_ENDIAN ? 1 : 0;
  return h;
}

/** The parts of one frame, to be written back to back (writev): nothing of the batch is copied. */
export function frameParts(b: WireBatch, counters: readonly CounterDelta[]): { parts: Uint8Array[]; bytes: number } {
  const numbers = new Uint8Array(b.numbers.buffer, b.numbers.byteOffset, b.numbers.byteLength);
  const lengths = new Uint8Array(b.lengths.buffer, b.lengths.byteOffset, b.lengths.byteLength);
  const json = counters.length > 0 ? Buffer.from(JSON.stringify(counters)) : Buffer.alloc(0);
  const hash = createHash('sha256').update(numbers).update(lengths).update(b.bytes).update(json).digest();
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32LE(FRAME_MAGIC, 0);
  head.writeUInt32LE(b.count, 4);
  head.writeUInt32LE(b.bytes.byteLength, 8);
  head.writeUInt32LE(json.length, 12);
  hash.copy(head, 16);
  const parts = [head, numbers, lengths, b.bytes, json];
  return { parts, bytes: FRAME_HEADER_BYTES + numbers.byteLength + lengths.byteLength + b.bytes.byteLength + json.length };
}

export interface Frame {
  batch: WireBatch;
  counters: CounterDelta[];
  /** Offset just past the frame. */
  end: number;
}

export type ReadOutcome = { frame: Frame } | { end: true } | { damaged: string };

/**
 * Reads the frame at `offset` of an open segment, not reading at or past `limit` (the end the
 * appender has reported; Infinity for a segment no one appends to any more). A frame that is cut
 * short by the limit or the file's end, or whose checksum fails, is `damaged` when nothing may
 * follow it (a kill during the write leaves such a tail), never decoded.
 */
export function readFrame(fd: number, offset: number, limit: number): ReadOutcome {
  const size = Math.min(limit, fstatSync(fd).size);
  if (offset >= size) return { end: true };
  if (offset + FRAME_HEADER_BYTES > size) return { damaged: 'a frame header cut short' };
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  readFully(fd, head, offset);
  if (head.readUInt32LE(0) !== FRAME_MAGIC) return { damaged: 'no frame where one should start' };
  const count = head.readUInt32LE(4);
  const textBytes = head.readUInt32LE(8);
  const jsonBytes = head.readUInt32LE(12);
  const numbersBytes = count * NUMBERS * 8;
  const lengthsBytes = count * STRINGS * 4;
  const bodyBytes = numbersBytes + lengthsBytes + textBytes + jsonBytes;
  const end = offset + FRAME_HEADER_BYTES + bodyBytes;
  if (end > size) return { damaged: 'a frame cut short' };
  // Its own buffer (offset 0 is 8-aligned), so the typed arrays below are views, not copies.
  const body = Buffer.from(new ArrayBuffer(bodyBytes));
  readFully(fd, body, offset + FRAME_HEADER_BYTES);
  if (!createHash('sha256').update(body).digest().equals(head.subarray(16, 48))) return { damaged: 'checksum mismatch' };
  const numbers = new Float64Array(body.buffer, 0, count * NUMBERS);
  const lengths = new Int32Array(body.buffer, numbersBytes, count * STRINGS);
  const bytes = new Uint8Array(body.buffer, numbersBytes + lengthsBytes, textBytes);
  const json = body.subarray(numbersBytes + lengthsBytes + textBytes);
  const counters = json.length > 0 ? (JSON.parse(json.toString('utf8')) as CounterDelta[]) : [];
  return { frame: { batch: { count, bytes, lengths, numbers }, counters, end } };
}

function readFully(fd: number, buf: Buffer, position: number): void {
  for (let off = 0; off < buf.length;) {
    const n = readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new Error('unexpected end of intake segment');
    off += n;
  }
}

function mkdirQuiet(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** Opens a segment for reading and checks its header; throws (with why) if it is not one. */
export function openSegment(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const n = readSync(fd, h, 0, SEGMENT_HEADER_BYTES, 0);
    if (n < SEGMENT_HEADER_BYTES || !h.subarray(0, 8).equals(SEGMENT_MAGIC)) throw new Error('not an intake segment');
    if ((h[8] === 1) !== LITTLE_ENDIAN) throw new Error('written on a machine of the other byte order');
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Creates a new, empty segment (its header written); returns its descriptor, open for writing. */
export function createSegment(dir: string, segment: number): number {
  // Not recursive: the root's parent is the store's directory, which must exist already.
  mkdirQuiet(dirname(dir));
  mkdirQuiet(dir);
  const fd = openSync(join(dir, segmentName(segment)), 'wx', 0o600);
  try {
    writeSync(fd, segmentHeader(), 0, SEGMENT_HEADER_BYTES, 0);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(join(dir, segmentName(segment)));
    } catch {
      // never created
    }
    throw e;
  }
  return fd;
}
