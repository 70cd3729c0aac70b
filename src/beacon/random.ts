import { fs } from './builtins.js';

/**
 * Cryptographically secure random bytes without loading node:crypto (3-5 ms, see sha256.ts):
 * the kernel's CSPRNG through /dev/urandom, the same source OpenSSL seeds from. Where there is no
 * /dev/urandom (Windows), Web Crypto's getRandomValues (which loads node:crypto) is used instead.
 */
export function randomBytesFast(n: number): Buffer {
  try {
    const fd = fs().openSync('/dev/urandom', 'r');
    try {
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) got += fs().readSync(fd, buf, got, n - got, null);
      return buf;
    } finally {
      fs().closeSync(fd);
    }
  } catch {
    return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(n)));
  }
}

/** RFC 4122 version 4 UUID from 16 random bytes. */
export function uuidV4(bytes: Buffer = randomBytesFast(16)): string {
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const h = bytes.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
