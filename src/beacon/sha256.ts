import { BLOCKS, H_AT, SHA256_WASM } from './sha256-wasm.js';

/**
 * SHA-256 and HMAC-SHA-256 (FIPS 180-4, RFC 2104) without node:crypto.
 *
 * Why not node:crypto: loading it costs 3-5 ms on this project's reference machine (measured by
 * `npm run bench:beacon`, field importNodeCrypto), more than the whole start-up budget of the
 * beacon. The compression function runs as WebAssembly (sha256-wasm.ts, assembled by
 * scripts/gen-sha256-wasm.mjs): this code runs once per process, where V8 interprets JavaScript,
 * and the beacon's ten blocks cost ~3 M instructions in JavaScript (a third of its whole start-up
 * on the reference machine, callgrind) against a few thousand each in WebAssembly, whose module
 * compiles in microseconds. The JavaScript compression below stays as the fallback (no
 * WebAssembly: `node --jitless`; a big-endian CPU). Both are checked against node:crypto and the
 * RFC 4231 vectors in test/beacon/sha256.test.ts.
 */
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

// The JavaScript fallback. Rotations are written out inline: it runs in V8's interpreter, where a
// helper-function call per rotation would cost more than the arithmetic.
function compress(h: Uint32Array, w: Uint32Array, data: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    w[i] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = h[0]!,
    b = h[1]!,
    c = h[2]!,
    d = h[3]!,
    e = h[4]!,
    f = h[5]!,
    g = h[6]!,
    k = h[7]!;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
  h[5] = (h[5]! + f) | 0;
  h[6] = (h[6]! + g) | 0;
  h[7] = (h[7]! + k) | 0;
}

/** Runs the compression over every 64-byte block of `blocks`, updating the state `h`. */
type Compressor = (h: Uint32Array, blocks: Uint8Array) => void;

const compressInJs: Compressor = (h, blocks) => {
  const w = new Uint32Array(64);
  for (let off = 0; off < blocks.length; off += 64) compress(h, w, blocks, off);
};

// The WebAssembly global, typed for what is used here (this project's TypeScript libs have no DOM
// types, where it is declared); absent under `node --jitless`.
declare const WebAssembly:
  | {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object) => { exports: Record<string, unknown> };
    }
  | undefined;

/** The WebAssembly compressor, or undefined where there is none (the caller then uses JavaScript). */
function wasmCompressor(): Compressor | undefined {
  try {
    // The module's state words are little-endian; a typed array over them is only that on an LE CPU.
    if (typeof WebAssembly !== 'object' || !WebAssembly || new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) return undefined;
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(SHA256_WASM)));
    const run = exports.c as (blockAt: number) => void;
    const memory = (exports.m as { buffer: ArrayBuffer }).buffer;
    const bytes = new Uint8Array(memory);
    const state = new Uint32Array(memory, H_AT, 8);
    return (h, blocks) => {
      if (blocks.length > bytes.length - BLOCKS) return compressInJs(h, blocks); // never for the beacon's short messages
      state.set(h);
      bytes.set(blocks, BLOCKS);
      for (let off = 0; off < blocks.length; off += 64) run(BLOCKS + off);
      h.set(state);
    };
  } catch {
    return undefined;
  }
}

let compressor: Compressor | undefined;
const compressBlocks: Compressor = (h, blocks) => (compressor ??= wasmCompressor() ?? compressInJs)(h, blocks);

/** Which compression runs: 'wasm' where WebAssembly works, else 'js'. Tests pin each in turn. */
export function sha256Engine(engine?: 'wasm' | 'js'): 'wasm' | 'js' {
  if (engine) compressor = engine === 'js' ? compressInJs : wasmCompressor();
  compressor ??= wasmCompressor() ?? compressInJs;
  return compressor === compressInJs ? 'js' : 'wasm';
}

/** Finish a hash whose state `h0` already covers `prefixBytes` bytes (whole blocks) with `data`. */
function finish(h0: ArrayLike<number>, data: Uint8Array, prefixBytes: number): Uint8Array {
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const bits = (prefixBytes + data.length) * 8;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bits / 0x100000000));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = new Uint32Array(h0);
  compressBlocks(h, padded);
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, h[i]!);
  return out;
}

export function sha256(data: Uint8Array): Uint8Array {
  return finish(IV, data, 0);
}

/**
 * HMAC-SHA-256 with one key for several messages: the key's two padded blocks are compressed once,
 * so each message costs two compressions (short messages) instead of four. The beacon's IDs hash
 * two messages with the same secret, and this runs once per process, in the interpreter.
 */
export function hmacSha256Key(key: Uint8Array): (message: Uint8Array) => Uint8Array {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  const pad = new Uint8Array(64);
  const inner = new Uint32Array(IV);
  const outer = new Uint32Array(IV);
  for (let i = 0; i < 64; i++) pad[i] = block[i]! ^ 0x36;
  compressBlocks(inner, pad);
  for (let i = 0; i < 64; i++) pad[i] = block[i]! ^ 0x5c;
  compressBlocks(outer, pad);
  return (message) => finish(outer, finish(inner, message, 64), 64);
}

export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  return hmacSha256Key(key)(message);
}
