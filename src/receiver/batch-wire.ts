import type { IngestRecord, WireFormat } from '../store/types.js';

/**
 * How a batch of IngestRecords crosses to the store thread. Posting the record objects costs a
 * structured clone that writes all 20 property names of every record and rebuilds each object
 * key by key on the other side (~2 µs a record, both halves on the receiver's one core). Instead
 * the batch travels as three flat values: every string field concatenated into one string, their
 * lengths (-1 for null) in an Int32Array, and the numbers and flags in a Float64Array; the two
 * typed arrays are transferred, not copied. The store thread rebuilds the records with slice().
 * Lengths rather than a separator: any text, including components with any character, survives.
 * The text is cut every CHUNK records: a backlog after a store outage (up to MAX_PENDING records
 * of up to 8 KiB each) would not fit in one V8 string.
 */
export interface WireBatch {
  count: number;
  /** Record i's strings are in texts[Math.floor(i / CHUNK)]. */
  texts: string[];
  lengths: Int32Array;
  numbers: Float64Array;
}

/** String fields per record, in this order: see encodeBatch. */
const STRINGS = 10;
/** Number slots per record: flags, seen_ms, month, client_ms, exit_code, duration_ms. */
const NUMBERS = 6;

const END = 1;
const WEAK_IDS = 2;
const EPH = 4;
const CI_NULL = 8;
const CI_TRUE = 16;
/** Records per text chunk: at most ~8 MiB of text even for the largest datagrams. */
export const CHUNK = 1024;

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

export function encodeBatch(records: readonly IngestRecord[]): WireBatch {
  const n = records.length;
  const lengths = new Int32Array(n * STRINGS);
  const numbers = new Float64Array(n * NUMBERS);
  const texts: string[] = [];
  let parts: string[] = [];
  let li = 0;
  let ni = 0;
  const put = (s: string | null): void => {
    if (s === null) lengths[li++] = -1;
    else {
      lengths[li++] = s.length;
      parts.push(s);
    }
  };
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    if (i % CHUNK === 0 && i > 0) {
      texts.push(parts.join(''));
      parts = [];
    }
    put(r.run);
    put(r.project);
    put(r.user_id);
    put(r.host_id);
    put(r.script_id);
    put(r.version);
    put(r.runtime);
    put(r.os);
    put(r.arch);
    put(r.components);
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
    numbers[ni++] = num(r.duration_ms);
  }
  if (n > 0) texts.push(parts.join(''));
  return { count: n, texts, lengths, numbers };
}

/** The ArrayBuffers of a WireBatch, for postMessage's transfer list. */
export function transferables(b: WireBatch): ArrayBuffer[] {
  return [b.lengths.buffer as ArrayBuffer, b.numbers.buffer as ArrayBuffer];
}

/** Inverse of encodeBatch; throws on a batch whose parts do not agree (a bug, never input). */
export function decodeBatch(b: WireBatch): IngestRecord[] {
  const { count, texts, lengths, numbers } = b;
  if (lengths.length !== count * STRINGS || numbers.length !== count * NUMBERS || texts.length !== Math.ceil(count / CHUNK)) {
    throw new Error('malformed wire batch');
  }
  let text = '';
  const out = new Array<IngestRecord>(count);
  let pos = 0;
  let li = 0;
  let ni = 0;
  const str = (): string | null => {
    const l = lengths[li++]!;
    if (l < 0) return null;
    const s = text.slice(pos, pos + l);
    pos += l;
    return s;
  };
  for (let i = 0; i < count; i++) {
    if (i % CHUNK === 0) {
      if (pos !== text.length) throw new Error('malformed wire batch');
      text = texts[i / CHUNK]!;
      pos = 0;
    }
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
    };
  }
  if (pos !== text.length) throw new Error('malformed wire batch');
  return out;
}
