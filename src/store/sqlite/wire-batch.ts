import type { IngestRecord, WireBatch, WireFormat } from '../types.js';

/**
 * How a batch of IngestRecords crosses to the store thread. Posting the record objects costs a
 * structured clone that writes all 20 property names of every record and rebuilds each object
 * key by key on the other side (~2 µs a record, both halves on the receiver's one core). Instead
 * a record is encoded the moment it is accepted (WireBatchBuilder.add): every string field as
 * UTF-8 into one growing byte buffer, their lengths (-1 for null) into an Int32Array, and the
 * numbers and flags into a Float64Array. Nothing of the record outlives the datagram, so under
 * load the garbage collector no longer copies and promotes thousands of records and their strings
 * per batch; and a batch crosses as three typed arrays, which a structured clone copies with one
 * memcpy each. The store thread rebuilds the records from the bytes. Lengths rather than a
 * separator: any text, including components with any character, survives. (The WireBatch contract
 * itself is the store's: src/store/types.ts.)
 */

/** String fields per record, in this order: see WireBatchBuilder.add. */
const STRINGS = 11;
/** Number slots per record: flags, seen_ms, month, client_ms, exit_code, duration_ms. */
const NUMBERS = 6;

const END = 1;
const WEAK_IDS = 2;
const EPH = 4;
const CI_NULL = 8;
const CI_TRUE = 16;

const FORMAT_SHIFT = 5; // two bits
const FORMATS: readonly WireFormat[] = ['native', 'parsl-legacy', 'parsl-1'];

function formatCode(f: WireFormat): number {
  return f === 'native' ? 0 : f === 'parsl-legacy' ? 1 : 2;
}

/** Nullable integers travel as NaN for null (every stored number is a safe integer). */
function num(v: number | null): number {
  return v === null ? NaN : v;
}
function nullable(v: number): number | null {
  return v !== v ? null : v;
}

/** Records a nullable field's length at lengths[li] (-1 for null) and returns its text to append. */
function field(lengths: Int32Array, li: number, s: string | null): string {
  if (s === null) {
    lengths[li] = -1;
    return '';
  }
  lengths[li] = s.length;
  return s;
}

/** Records encoded as they come; `finish()` hands out the batch (views of the used parts). */
export class WireBatchBuilder {
  private bytes: Buffer;
  private pos = 0;
  private lengths: Int32Array;
  private numbers: Float64Array;
  private n = 0;

  constructor(capacity = 1024) {
    this.bytes = Buffer.allocUnsafe(capacity * 512);
    this.lengths = new Int32Array(capacity * STRINGS);
    this.numbers = new Float64Array(capacity * NUMBERS);
  }

  get count(): number {
    return this.n;
  }

  /** Bytes the batch holds so far (strings, lengths, numbers): what a backlog bound counts. */
  get usedBytes(): number {
    return this.pos + this.n * (STRINGS * 4 + NUMBERS * 8);
  }

  add(r: IngestRecord): void {
    if ((this.n + 1) * NUMBERS > this.numbers.length) this.growRecords();
    const lengths = this.lengths;
    const li = this.n * STRINGS;
    // The record's strings joined, written with one call (a call per field cost ~1 µs a record).
    lengths[li] = r.run.length;
    lengths[li + 1] = r.project.length;
    const text =
      r.run +
      r.project +
      field(lengths, li + 2, r.user_id) +
      field(lengths, li + 3, r.host_id) +
      field(lengths, li + 4, r.script_id) +
      field(lengths, li + 5, r.version) +
      field(lengths, li + 6, r.runtime) +
      field(lengths, li + 7, r.os) +
      field(lengths, li + 8, r.arch) +
      field(lengths, li + 9, r.components) +
      field(lengths, li + 10, r.net_tag ?? null);
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    if (this.pos + text.length * 3 > this.bytes.length) this.growBytes(text.length * 3);
    // Lengths are in UTF-16 code units: the store thread decodes all the bytes at once and slices.
    // (Decoding gives back exactly as many units: a lone surrogate becomes one U+FFFD.)
    this.pos += this.bytes.write(text, this.pos, 'utf8');
    let ni = this.n * NUMBERS;
    const numbers = this.numbers;
    numbers[ni++] =
      (r.kind === 'end' ? END : 0) |
      (r.weak_ids ? WEAK_IDS : 0) |
      (r.eph ? EPH : 0) |
      (r.ci === null ? CI_NULL : r.ci ? CI_TRUE : 0) |
      (formatCode(r.format) << FORMAT_SHIFT);
    numbers[ni++] = r.seen_ms;
    numbers[ni++] = r.month;
    numbers[ni++] = num(r.client_ms);
    numbers[ni++] = num(r.exit_code);
    numbers[ni] = num(r.duration_ms);
    this.n++;
  }

  /** The batch so far, as views of this builder's arrays: use it before adding more. */
  finish(): WireBatch {
    return {
      count: this.n,
      bytes: this.bytes.subarray(0, this.pos),
      lengths: this.lengths.subarray(0, this.n * STRINGS),
      numbers: this.numbers.subarray(0, this.n * NUMBERS),
    };
  }

  private growBytes(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.pos + need));
    this.bytes.copy(next, 0, 0, this.pos);
    this.bytes = next;
  }

  private growRecords(): void {
    const lengths = new Int32Array(this.lengths.length * 2);
    lengths.set(this.lengths);
    this.lengths = lengths;
    const numbers = new Float64Array(this.numbers.length * 2);
    numbers.set(this.numbers);
    this.numbers = numbers;
  }
}

/** The ArrayBuffers of a WireBatch, for postMessage's transfer list (only for arrays it owns whole). */
export function transferables(b: WireBatch): ArrayBuffer[] {
  return [b.bytes.buffer as ArrayBuffer, b.lengths.buffer as ArrayBuffer, b.numbers.buffer as ArrayBuffer];
}

export function encodeBatch(records: readonly IngestRecord[]): WireBatch {
  const b = new WireBatchBuilder(Math.max(1, records.length));
  for (const r of records) b.add(r);
  return b.finish();
}

/** Inverse of encodeBatch; throws on a batch whose parts do not agree (a bug, never input). */
export function decodeBatch(b: WireBatch): IngestRecord[] {
  const { count, lengths, numbers } = b;
  if (lengths.length !== count * STRINGS || numbers.length !== count * NUMBERS) throw new Error('malformed wire batch');
  // One UTF-8 decode for the whole batch (simdutf), then a slice per field.
  const text = Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength).toString('utf8');
  const out = new Array<IngestRecord>(count);
  let pos = 0;
  let li = 0;
  let ni = 0;
  const str = (): string | null => {
    const l = lengths[li++]!;
    if (l < 0) return null;
    if (pos + l > text.length) throw new Error('malformed wire batch');
    const s = text.slice(pos, pos + l);
    pos += l;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const run = str()!;
    const project = str()!;
    const user_id = str();
    const host_id = str();
    const script_id = str();
    const version = str();
    const runtime = str();
    const os = str();
    const arch = str();
    const components = str();
    const net_tag = str();
    const flags = numbers[ni++]!;
    out[i] = {
      run,
      kind: flags & END ? 'end' : 'start',
      project,
      format: FORMATS[(flags >> FORMAT_SHIFT) & 3]!,
      user_id,
      host_id,
      script_id,
      weak_ids: (flags & WEAK_IDS) !== 0,
      eph: (flags & EPH) !== 0,
      version,
      runtime,
      os,
      arch,
      ci: flags & CI_NULL ? null : (flags & CI_TRUE) !== 0,
      components,
      seen_ms: numbers[ni++]!,
      month: numbers[ni++]!,
      client_ms: nullable(numbers[ni++]!),
      exit_code: nullable(numbers[ni++]!),
      duration_ms: nullable(numbers[ni++]!),
      net_tag: net_tag ?? undefined,
    };
  }
  if (pos !== text.length) throw new Error('malformed wire batch');
  return out;
}
