import { fs } from './builtins.js';

/**
 * Hex output and text files for the beacon's start path, in its own code rather than Buffer's.
 *
 * Why: the beacon's code comes from the compile cache (code-cache.ts), but each of Node's own
 * JavaScript functions a run calls for the first time is compiled in that run, and that measured
 * tens of thousands of instructions per function (bench:beacon-instr): buf.toString('hex') and
 * Buffer.from(s, 'hex') run getEncodingOps (1.8 kB of source) and more, readFileSync(path, 'utf8')
 * two more than the binary read. A short loop here costs little; a long one does not (V8 interprets
 * this code: decoding the 0.8 kB WebAssembly module from hex here cost ~1 M instructions, so that
 * is a number array in the source, sha256-wasm.ts).
 */
const DIGITS = '0123456789abcdef';

/** Lowercase hex of bytes[start, end). */
export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    s += DIGITS[b >> 4]! + DIGITS[b & 15]!;
  }
  return s;
}

/** Bytes of an even-length hex string (callers pass validated hex: secrets and machine IDs). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
  return out;
}

// '0'-'9' → 0-9, 'a'-'f' and 'A'-'F' → 10-15.
const nibble = (c: number): number => (c <= 57 ? c - 48 : (c | 32) - 87);

/**
 * A UTF-8 text file, like readFileSync(path, 'utf8') (which throws the same errors), through the
 * binary read the compile cache already made Node compile and Buffer's native utf8Slice (present on
 * Buffer.prototype in every Node this runs on; toString where it is missing).
 */
export function readText(path: string): string {
  const bytes = fs().readFileSync(path);
  const slice = (bytes as unknown as { utf8Slice?: (start: number, end: number) => string }).utf8Slice;
  return typeof slice === 'function' ? slice.call(bytes, 0, bytes.length) : bytes.toString('utf8');
}
