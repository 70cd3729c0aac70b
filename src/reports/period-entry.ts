import type { IdList } from './id-set.js';

/**
 * The binary form of one month's period entry (queries/period-month.ts), as cached in
 * report_month_cache and passed from the helper thread: one Buffer, read in place.
 *
 * JSON text cost the period report its memory: each cached month was one ~7 MB string, parsed
 * into objects and base64 strings, then decoded again, twelve times over, and V8 kept most of it
 * until a late collection (peak RSS ~220 MB with every month cached). Read from this form, a
 * month is one Buffer (outside the JS heap) and its lists are views into it, so folding a month
 * allocates little more than one small array per breakdown value.
 *
 * Layout, little-endian: u32 version; three ID lists (users, hosts, scripts: u32 count of
 * 16-byte IDs, the bytes, u32 count of other IDs, each u32 byte length + UTF-8); u32 count of
 * duration numbers, f64 each; u32 count of sections, each its name (u32 length + UTF-8), u32
 * count of values, each a value (u8 tag 0 null, 1 number as f64, 2 text as u32 length +
 * UTF-8), f64 runs, f64 idless runs, u32 count of user indices, u32 each big-endian (as SQL's
 * hex digits give them).
 */

/** [value, runs, idless runs, the value's users as big-endian u32 indices into `users`]. */
export type SectionValue = [string | number | null, number, number, Buffer];

export interface PeriodMonthEntry {
  v: number;
  /** The month's distinct IDs, packed (id-set.ts); section indices refer to `users` in list order. */
  users: IdList;
  hosts: IdList;
  scripts: IdList;
  /** [truncated length ms, runs, length, runs, ...]. */
  durations: number[];
  /** Keyed `d:<dimension>`, `exit`, `c:<component key>`. */
  sections: Map<string, SectionValue[]>;
}

class Writer {
  private readonly parts: Buffer[] = [];
  private head = Buffer.allocUnsafe(64 * 1024);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.head.length) return;
    this.flush();
    if (n > this.head.length) this.head = Buffer.allocUnsafe(n);
  }
  private flush(): void {
    if (this.at > 0) this.parts.push(Buffer.from(this.head.subarray(0, this.at)));
    this.at = 0;
  }
  u8(x: number): void {
    this.room(1);
    this.at = this.head.writeUInt8(x, this.at);
  }
  u32(x: number): void {
    this.room(4);
    this.at = this.head.writeUInt32LE(x, this.at);
  }
  f64(x: number): void {
    this.room(8);
    this.at = this.head.writeDoubleLE(x, this.at);
  }
  str(s: string): void {
    const n = Buffer.byteLength(s);
    this.u32(n);
    this.room(n);
    this.at += this.head.write(s, this.at);
  }
  bytes(b: Buffer): void {
    this.flush();
    this.parts.push(b);
  }
  done(): Buffer {
    this.flush();
    return Buffer.concat(this.parts);
  }
}

class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  u8(): number {
    return this.b.readUInt8(this.at++);
  }
  u32(): number {
    const x = this.b.readUInt32LE(this.at);
    this.at += 4;
    return x;
  }
  f64(): number {
    const x = this.b.readDoubleLE(this.at);
    this.at += 8;
    return x;
  }
  bytes(n: number): Buffer {
    if (this.at + n > this.b.length) throw new RangeError('period entry: truncated');
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  str(): string {
    return this.bytes(this.u32()).toString('utf8');
  }
}

function writeIds(w: Writer, l: IdList): void {
  w.u32(l.hex.length / 16);
  w.bytes(l.hex);
  w.u32(l.other.length);
  for (const s of l.other) w.str(s);
}

function readIds(r: Reader): IdList {
  const hex = r.bytes(r.u32() * 16);
  const other: string[] = [];
  for (let n = r.u32(); n > 0; n--) other.push(r.str());
  return { hex, other };
}

export function encodeEntry(e: PeriodMonthEntry): Buffer {
  const w = new Writer();
  w.u32(e.v);
  for (const l of [e.users, e.hosts, e.scripts]) writeIds(w, l);
  w.u32(e.durations.length);
  for (const x of e.durations) w.f64(x);
  w.u32(e.sections.size);
  for (const [name, values] of e.sections) {
    w.str(name);
    w.u32(values.length);
    for (const [value, runs, idless, ix] of values) {
      if (value === null) w.u8(0);
      else if (typeof value === 'number') {
        w.u8(1);
        w.f64(value);
      } else {
        w.u8(2);
        w.str(value);
      }
      w.f64(runs);
      w.f64(idless);
      w.u32(ix.length / 4);
      w.bytes(ix);
    }
  }
  return w.done();
}

/** The version an encoded entry was made by (0 when it is too short to tell). */
export function entryVersion(b: Buffer): number {
  return b.length >= 4 ? b.readUInt32LE(0) : 0;
}

/** Views into `b` (no copy): keep `b` unchanged while the entry is in use. Throws on a damaged entry. */
export function decodeEntry(b: Buffer): PeriodMonthEntry {
  const r = new Reader(b);
  const v = r.u32();
  const users = readIds(r);
  const hosts = readIds(r);
  const scripts = readIds(r);
  const durations: number[] = [];
  for (let n = r.u32(); n > 0; n--) durations.push(r.f64());
  const sections = new Map<string, SectionValue[]>();
  for (let n = r.u32(); n > 0; n--) {
    const name = r.str();
    const values: SectionValue[] = [];
    for (let k = r.u32(); k > 0; k--) {
      const tag = r.u8();
      const value = tag === 0 ? null : tag === 1 ? r.f64() : r.str();
      const runs = r.f64();
      const idless = r.f64();
      values.push([value, runs, idless, r.bytes(r.u32() * 4)]);
    }
    sections.set(name, values);
  }
  if (r.at !== b.length) throw new RangeError('period entry: trailing bytes');
  return { v, users, hosts, scripts, durations, sections };
}
