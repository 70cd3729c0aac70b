import { createHash } from 'node:crypto';
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CounterDelta } from '../store/types.js';
import type { WireBatch } from '../store/types.js';

/**
 * Spill files: what a receiver stopped by SIGTERM could not commit (the store was full,
 * read-only, locked or unreachable to the end), written next to the store (or to --spill-dir)
 * and committed first by the next start, before the socket is opened.
 *
 * A full disk is the common reason the store failed, and then a new file next to it fails too.
 * So every receiver keeps a *reserve*: a file of the backlog's byte bound (plus room for the
 * header), allocated at start while there is space. A spill is written over the reserve in place
 * (already-allocated blocks need no free space on ext4, xfs or tmpfs; copy-on-write filesystems
 * such as btrfs and zfs may still need some), cut to its length, synced, and only then renamed to
 * its spill name: a spill file either exists whole or not at all, and its checksum is verified
 * before anything in it is committed. The next start writes a new reserve.
 *
 * Layout: "UBSPILL1", a uint32 (LE) header length, the header JSON, then each batch's strings,
 * lengths (Int32) and numbers (Float64) in the machine's byte order (the header records it).
 */
const MAGIC = Buffer.from('UBSPILL1');
const HEADER_ROOM = 1 << 20;

export interface SpillPlace {
  dir: string;
  /** File name prefix: the SQLite file's name, or `postgres`. */
  base: string;
  /** Distinguishes the reserves of several workers writing one store. */
  slot: number;
}

export interface SpillContent {
  batches: WireBatch[];
  counters: CounterDelta[];
  records: number;
}

interface Header {
  v: 1;
  created: string;
  littleEndian: boolean;
  records: number;
  counters: CounterDelta[];
  batches: Array<{ count: number; bytes: number; lengths: number; numbers: number }>;
  sha256: string;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where spills go: --spill-dir, else the SQLite file's directory, else systemd's state directory or the working directory. */
export function spillPlace(
  o: { spillDir?: string; db: string; store?: string },
  slot = 0,
  env: NodeJS.ProcessEnv = process.env,
): SpillPlace {
  if (o.store) return { dir: o.spillDir ?? env.STATE_DIRECTORY?.split(':')[0] ?? process.cwd(), base: 'postgres', slot };
  return { dir: o.spillDir ?? dirname(o.db), base: basename(o.db), slot };
}

export function reservePath(p: SpillPlace): string {
  return join(p.dir, `${p.base}.spill-reserve${p.slot ? `-${p.slot}` : ''}`);
}

/**
 * Makes sure the reserve exists at `bytes` (plus header room), writing zeros so the blocks are
 * really allocated. Returns an error message if there is no room (the receiver runs anyway and
 * warns: a spill then needs free space at exit).
 */
export function prepareReserve(p: SpillPlace, bytes: number): string | undefined {
  const path = reservePath(p);
  const want = bytes + HEADER_ROOM;
  try {
    if (statSync(path).size >= want) return undefined;
  } catch {
    // no reserve yet
  }
  let fd: number | undefined;
  try {
    fd = openSync(path, 'w');
    const chunk = Buffer.alloc(1 << 20);
    // Not synced: the filesystem counts written blocks against free space at write time (ext4's
    // delayed allocation reserves them), which is all a reserve is for, and a start stays fast.
    for (let pos = 0; pos < want; pos += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, want - pos), pos);
    return undefined;
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
    try {
      unlinkSync(path);
    } catch {
      // it was never created
    }
    return e instanceof Error ? e.message : String(e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function views(b: WireBatch): Uint8Array[] {
  return [
    b.bytes,
    new Uint8Array(b.lengths.buffer, b.lengths.byteOffset, b.lengths.byteLength),
    new Uint8Array(b.numbers.buffer, b.numbers.byteOffset, b.numbers.byteLength),
  ];
}

/** Writes a spill file (over the reserve if there is one); returns its path. Throws if it cannot. */
export function writeSpill(p: SpillPlace, c: SpillContent, now = new Date()): string {
  const parts = c.batches.flatMap(views);
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  const header: Header = {
    v: 1,
    created: now.toISOString(),
    littleEndian: LITTLE_ENDIAN,
    records: c.records,
    counters: c.counters,
    batches: c.batches.map((b) => ({ count: b.count, bytes: b.bytes.byteLength, lengths: b.lengths.length, numbers: b.numbers.length })),
    sha256: hash.digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const reserve = reservePath(p);
  let target = reserve;
  let fd: number;
  try {
    fd = openSync(reserve, 'r+');
  } catch {
    target = join(p.dir, `${p.base}.spill-partial-${process.pid}`);
    fd = openSync(target, 'w');
  }
  let pos = 0;
  try {
    for (const part of [MAGIC, len, json, ...parts]) {
      for (let off = 0; off < part.byteLength;) {
        const n = writeSync(fd, part, off, part.byteLength - off, pos);
        off += n;
        pos += n;
      }
    }
    ftruncateSync(fd, pos);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const final = join(p.dir, `${p.base}.spill-${now.toISOString().replace(/[:.]/g, '')}-${process.pid}-${p.slot}.bin`);
  renameSync(target, final);
  syncDir(p.dir);
  return final;
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every filesystem lets a directory be synced; the rename is still atomic.
  }
}

/** Spill files waiting to be committed, oldest first. */
export function listSpills(p: SpillPlace): string[] {
  let names: string[];
  try {
    names = readdirSync(p.dir);
  } catch {
    return [];
  }
  const prefix = `${p.base}.spill-`;
  return names
    .filter((n) => n.startsWith(prefix) && n.endsWith('.bin'))
    .sort()
    .map((n) => join(p.dir, n));
}

/** Reads and verifies a spill file; throws (with why) if it is not one, or is damaged. */
export function readSpill(path: string): SpillContent {
  const buf = readFileSync(path);
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) throw new Error('not a spill file');
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) throw new Error('truncated header');
  const h = JSON.parse(buf.subarray(12, 12 + hlen).toString('utf8')) as Header;
  if (h.v !== 1) throw new Error(`unknown spill version ${String(h.v)}`);
  if (h.littleEndian !== LITTLE_ENDIAN) throw new Error('written on a machine of the other byte order');
  const body = buf.subarray(12 + hlen);
  if (createHash('sha256').update(body).digest('hex') !== h.sha256) throw new Error('checksum mismatch (damaged or incomplete)');
  let pos = 0;
  // Copies into fresh, aligned arrays (a typed array view needs an aligned offset).
  const take = (n: number): Uint8Array => {
    if (pos + n > body.length) throw new Error('truncated body');
    const out = new Uint8Array(n);
    out.set(body.subarray(pos, pos + n));
    pos += n;
    return out;
  };
  const batches = h.batches.map((b) => ({
    count: b.count,
    bytes: take(b.bytes),
    lengths: new Int32Array(take(b.lengths * 4).buffer),
    numbers: new Float64Array(take(b.numbers * 8).buffer),
  }));
  if (pos !== body.length) throw new Error('trailing bytes');
  return { batches, counters: h.counters, records: h.records };
}
