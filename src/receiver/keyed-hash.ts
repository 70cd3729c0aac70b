import { randomFillSync } from 'node:crypto';

/**
 * The keyed hash of every in-memory table whose keys a sender chooses (the dedupe table's run IDs,
 * the rate limiter's source networks). A sender on a public UDP port picks its keys, and can spoof
 * its source: with an unkeyed or weakly mixed hash it can make many keys share a slot and turn
 * each lookup into a walk over all of them (issue 11 measured 44× the CPU with run IDs that were
 * merely sequential in their tail). The defence is the one the Linux kernel uses for its own
 * tables: HalfSipHash-1-3 (Aumasson; the kernel's `hsiphash`), a pseudo-random function on 32-bit
 * words keyed with 64 random bits drawn once per process. Without the key nobody can predict which
 * slot a key lands in, so no input pattern, crafted or accidental, clusters better than random
 * keys; and every output bit depends on every input bit (test/receiver/hash-tables.test.ts checks
 * both). SipHash rather than a seeded Murmur-style mix: those have seed-independent collisions (a
 * message difference that cancels inside the mix whatever the seed), SipHash does not.
 *
 * Cost: one compression round per 32-bit word plus three final rounds, all int32 adds, xors and
 * rotations that V8 keeps in registers; ~20–40 ns per 4-word key on the machines measured
 * (bench/receiver.mjs reports the receiver's CPU per datagram with sequential and random IDs).
 */

/** A 64-bit HalfSipHash key as two int32 words. */
export interface HashKey {
  k0: number;
  k1: number;
}

let processKey: HashKey | undefined;

/** This process's random key, drawn from the OS CSPRNG on first use and never exposed. */
export function processHashKey(): HashKey {
  if (processKey === undefined) processKey = randomHashKey();
  return processKey;
}

export function randomHashKey(): HashKey {
  const w = randomFillSync(new Int32Array(2));
  return { k0: w[0]!, k1: w[1]! };
}

/**
 * HalfSipHash-1-3 of the little-endian bytes of the int32 words w[o..o+n) followed by one tag
 * byte (`tag` & 0xff, e.g. the dedupe table's start/end kind), as an int32. `n` ≤ 63.
 */
export function hashWords(key: HashKey, w: ArrayLike<number>, o: number, n: number, tag: number): number {
  return halfSipHash(key, w, o, n, tag, 1, 3);
}

/**
 * HalfSipHash-c-d, 32-bit output, of the message described at hashWords (whole words and one
 * trailing byte). Exported so a test can check it against the reference vectors of -2-4.
 */
export function halfSipHash(key: HashKey, w: ArrayLike<number>, o: number, n: number, tag: number, c: number, d: number): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = 0x6c796765 ^ v0;
  let v3 = 0x74656462 ^ v1;
  // The last block: the message length in bytes in the top byte, the tag byte at the bottom.
  const last = (((n * 4 + 1) & 0xff) << 24) | (tag & 0xff);
  for (let i = 0; i <= n; i++) {
    const m = i < n ? w[o + i]! | 0 : last;
    v3 ^= m;
    for (let r = 0; r < c; r++) {
      // SipRound, 32-bit variant (rotations 5, 16, 8, 7, 13, 16).
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (let r = 0; r < d; r++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  return v1 ^ v3;
}
