import { fs } from './builtins.js';

/**
 * Hex and text files for the beacon's start path, without Buffer's JavaScript.
 *
 * Why: the beacon's code comes from the compile cache (code-cache.ts), but each of Node's own
 * JavaScript functions a run calls for the first time is compiled in that run, and that measured
 * tens of thousands of instructions per function (bench:beacon-instr): buf.toString('hex') and
 * Buffer.from(s, 'hex') run getEncodingOps (1.8 kB of source) and more, readFileSync(path, 'utf8')
 * two more than the binary read. So this calls the native methods Node puts on Buffer.prototype
 * (hexSlice, hexWrite, latin1Slice, utf8Slice: in every Node this runs on, and they take any
 * Uint8Array), with loops or toString where one is missing. Loops are kept short: V8 interprets
 * this code, and a long one costs (decoding the 0.8 kB WebAssembly module from hex in a loop cost
 * ~1 M instructions, so that is a number array in the source, sha256-wasm.ts), and a loop that runs
 * long enough makes V8 compile it again with Sparkplug.
 */
const DIGITS = '0123456789abcdef';

/** Lowercase hex of bytes[start, end). */
export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const hexSlice = (Buffer.prototype as unknown as Record<string, Slicer | undefined>).hexSlice;
  if (typeof hexSlice === 'function') return hexSlice.call(bytes, start, end);
  let s = '';
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    s += DIGITS[b >> 4]! + DIGITS[b & 15]!;
  }
  return s;
}

/**
 * True when `s` is `length` lowercase hex digits (what /^[0-9a-f]{length}$/ tests), without a regex
 * (compiled on its first use, ~0.1 M instructions each on the start path, bench:beacon-instr):
 * hexWrite decodes up to the first character that is not hex; toLowerCase rules out A-F.
 */
export function isLowerHex(s: string, length: number): boolean {
  if (s.length !== length || length % 2 !== 0) return false;
  const hexWrite = (Buffer.prototype as unknown as Record<string, Writer | undefined>).hexWrite;
  if (typeof hexWrite === 'function')
    return s === s.toLowerCase() && hexWrite.call(new Uint8Array(length / 2), s, 0, length / 2) === length / 2;
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Bytes of an even-length hex string (callers pass validated hex: secrets and machine IDs). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  const hexWrite = (Buffer.prototype as unknown as Record<string, Writer | undefined>).hexWrite;
  if (typeof hexWrite === 'function' && hexWrite.call(out, hex, 0, out.length) === out.length) return out;
  for (let i = 0; i < out.length; i++) out[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return out;
}

// '0'-'9' → 0-9, 'a'-'f' and 'A'-'F' → 10-15.
const nibble = (c: number): number => (c <= 57 ? c - 48 : (c | 32) - 87);

/**
 * A whole file's bytes, like readFileSync(path) (the same errors: it opens the file the same way),
 * with only the fs functions the beacon calls anyway (openSync, readSync, closeSync: reading
 * /dev/urandom): readFileSync itself runs four more of Node's functions (readFileSync, tryStatSync,
 * tryCreateBuffer, tryReadSync), each compiled for the run. No fstat: the buffer starts at
 * `sizeHint` bytes and doubles while the file fills it. A plain Uint8Array view of what was read
 * (Buffer's subarray is JavaScript too).
 */
export function readAll(path: string, sizeHint = 4096): Uint8Array {
  const fd = fs().openSync(path, 'r');
  try {
    let bytes = Buffer.allocUnsafe(sizeHint);
    let length = 0;
    for (;;) {
      if (length === bytes.length) {
        const bigger = Buffer.allocUnsafe(bytes.length * 2);
        bigger.set(bytes); // TypedArray's own set: no Buffer JavaScript
        bytes = bigger;
      }
      const n = fs().readSync(fd, bytes, length, bytes.length - length, null);
      if (n === 0) return new Uint8Array(bytes.buffer, bytes.byteOffset, length);
      length += n;
    }
  } finally {
    fs().closeSync(fd);
  }
}

type Slicer = (this: Uint8Array, start: number, end: number) => string;
type Writer = (this: Uint8Array, text: string, offset: number, length: number) => number;

/**
 * bytes[0, end) as a string, by Buffer's native latin1Slice or utf8Slice (on Buffer.prototype in
 * every Node this runs on, and they take any Uint8Array), rather than toString, whose JavaScript
 * would be compiled for the call; toString where they are missing.
 */
export function decode(bytes: Uint8Array, end: number, encoding: 'latin1' | 'utf8'): string {
  const slice = (Buffer.prototype as unknown as Record<string, Slicer | undefined>)[`${encoding}Slice`];
  if (typeof slice === 'function') return slice.call(bytes, 0, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString(encoding);
}

/** A UTF-8 text file, like readFileSync(path, 'utf8') (which throws the same errors). */
export function readText(path: string): string {
  const bytes = readAll(path);
  return decode(bytes, bytes.length, 'utf8');
}
