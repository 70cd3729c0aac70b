// Writes src/beacon/sha256-wasm.ts: the SHA-256 compression function as a 0.5 kB WebAssembly module,
// assembled here from the listing below (no toolchain needed), stored as an array of numbers: its
// literal comes out of the beacon's compile cache ready made, where decoding base64 or hex ran Node's
// Buffer code, compiled in every run (src/beacon/bytes.ts says what that costs). Why: in V8's
// interpreter the JavaScript compression costs ~0.3 M instructions a block, and the beacon's IDs take
// ten blocks per run, ~3 M instructions of the process (callgrind); compiled WebAssembly does a block
// in a few thousand, and Liftoff compiles this module in microseconds. test/beacon/sha256.test.ts
// checks that the file matches this script's output and the hashes match node:crypto.
//   node scripts/gen-sha256-wasm.mjs            rewrite the file
//   node scripts/gen-sha256-wasm.mjs --print    print the file's text instead (formatted by prettier, as the repository wants)
import { writeFileSync } from 'node:fs';

const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

// Memory layout (one 64 kB page): H, the 8-word state, at 0; W, the 64-word schedule, at 256; K at 512;
// the caller's blocks from BLOCKS (1024) on. Words in memory are little-endian i32; message bytes are
// read big-endian, one byte at a time.
export const H_AT = 0;
export const W_AT = 256;
export const K_AT = 512;
export const BLOCKS = 1024;

const uleb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n) => {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items) => [...uleb(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...uleb(bytes.length), ...bytes];
const str = (s) => vec([...Buffer.from(s)].map((b) => [b]));

// Locals: 0 = off (the block's address, the parameter); 1-8 = a..h; 9 = p (4 × the word index); 10, 11 = t1, t2.
const [OFF, A, B, C, D, E, F, G, Hh, P, T1, T2] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const get = (l) => [0x20, l];
const set = (l) => [0x21, l];
const c = (n) => [0x41, ...sleb(n | 0)];
const load = (offset) => [0x28, 2, ...uleb(offset)]; // i32.load align=4 offset
const load8 = (offset) => [0x2d, 0, ...uleb(offset)]; // i32.load8_u
const store = (offset) => [0x36, 2, ...uleb(offset)]; // i32.store align=4 offset
const [add, and, or, xor, shl, shrU, rotr, ltU] = [[0x6a], [0x71], [0x72], [0x73], [0x74], [0x76], [0x78], [0x49]];
const loop = (...body) => [0x03, 0x40, ...body.flat(), 0x0b]; // loop (no result) … end
const brIf = (depth) => [0x0d, depth];
// rotr(x, r1) ^ rotr(x, r2) ^ (x >>> r3, or rotr(x, r3))
const sigma = (x, r1, r2, r3, shift3) => [
  ...[...get(x), ...c(r1), ...rotr],
  ...[...get(x), ...c(r2), ...rotr, ...xor],
  ...[...get(x), ...c(r3), ...(shift3 ? shrU : rotr), ...xor],
];
const nextP = (limit) => [...get(P), ...c(4), ...add, ...set(P), ...get(P), ...c(limit), ...ltU, ...brIf(0)];
const byteAt = (k) => [...get(OFF), ...get(P), ...add, ...load8(k)];

// The listing, one line per step, as an assembler listing would read (so not reflowed by Prettier).
// prettier-ignore
const code = [
  // W[0..15]: the block's words, big-endian.
  c(0), set(P),
  loop(
    get(P), // the store's address
    byteAt(0), c(24), shl,
    byteAt(1), c(16), shl, or,
    byteAt(2), c(8), shl, or,
    byteAt(3), or,
    store(W_AT),
    nextP(64),
  ),
  // W[16..63] = W[i-16] + σ0(W[i-15]) + W[i-7] + σ1(W[i-2]), addressed from p = 4i.
  loop(
    get(P),
    get(P), load(W_AT - 64),
    get(P), load(W_AT - 60), set(T1), sigma(T1, 7, 18, 3, true), add,
    get(P), load(W_AT - 28), add,
    get(P), load(W_AT - 8), set(T1), sigma(T1, 17, 19, 10, true), add,
    store(W_AT),
    nextP(256),
  ),
  // a..h = H
  [A, B, C, D, E, F, G, Hh].map((l, k) => [...c(0), ...load(H_AT + 4 * k), ...set(l)]),
  c(0), set(P),
  loop(
    // t1 = h + Σ1(e) + ch(e, f, g) + K[i] + W[i]
    get(Hh), sigma(E, 6, 11, 25, false), add,
    get(E), get(F), and, get(E), c(-1), xor, get(G), and, xor, add,
    get(P), load(K_AT), add,
    get(P), load(W_AT), add,
    set(T1),
    // t2 = Σ0(a) + maj(a, b, c)
    sigma(A, 2, 13, 22, false),
    get(A), get(B), and, get(A), get(C), and, xor, get(B), get(C), and, xor, add,
    set(T2),
    // h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2 (each reads the old value)
    get(G), set(Hh), get(F), set(G), get(E), set(F),
    get(D), get(T1), add, set(E),
    get(C), set(D), get(B), set(C), get(A), set(B),
    get(T1), get(T2), add, set(A),
    nextP(256),
  ),
  // H += a..h
  [A, B, C, D, E, F, G, Hh].map((l, k) => [...c(0), ...c(0), ...load(H_AT + 4 * k), ...get(l), ...add, ...store(H_AT + 4 * k)]),
].flat(Infinity);

const funcBody = [...vec([[...uleb(11), 0x7f]]), ...code, 0x0b]; // 11 locals of i32, the code, end
const kBytes = K.flatMap((k) => [k & 255, (k >>> 8) & 255, (k >>> 16) & 255, k >>> 24]);
export const wasm = Uint8Array.from([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, vec([[0x60, ...vec([[0x7f]]), ...vec([])]])), // type 0: (i32) -> ()
  ...section(3, vec([[0]])), // function 0 has type 0
  ...section(5, vec([[0x00, 1]])), // memory 0: at least one page
  ...section(
    7,
    vec([
      [...str('m'), 0x02, 0],
      [...str('c'), 0x00, 0],
    ]),
  ), // exports: m = memory 0, c = function 0
  ...section(10, vec([[...uleb(funcBody.length), ...funcBody]])),
  ...section(11, vec([[0x00, ...c(K_AT), 0x0b, ...vec(kBytes.map((b) => [b]))]])), // K at K_AT
]);

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\//, ''))) {
  const out = new URL('../src/beacon/sha256-wasm.ts', import.meta.url);
  const prettier = await import('prettier');
  const text = await prettier.format(
    `// Generated by scripts/gen-sha256-wasm.mjs (the listing and why are there); do not edit.\n` +
      `/** The SHA-256 compression function, as WebAssembly: export c(blockAddress), memory m. */\n` +
      `export const SHA256_WASM: readonly number[] = [${[...wasm].join(', ')}];\n` +
      `/** Memory layout: the 8-word state at H_AT, message blocks from BLOCKS on. */\n` +
      `export const H_AT = ${H_AT};\nexport const BLOCKS = ${BLOCKS};\n`,
    { ...(await prettier.resolveConfig(out)), filepath: out.pathname },
  );
  if (process.argv.includes('--print')) process.stdout.write(text);
  else writeFileSync(out, text);
}
