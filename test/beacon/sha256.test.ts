import { createHash, createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacSha256, hmacSha256Key, sha256, sha256Engine } from '../../src/beacon/sha256.js';
import { randomBytesFast, uuidV7 } from '../../src/beacon/random.js';
import { decode, fromHex, isLowerHex, readAll, readText, toHex } from '../../src/beacon/bytes.js';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

describe.each(['wasm', 'js'] as const)('SHA-256 / HMAC-SHA-256 (%s compression) match node:crypto', (engine) => {
  beforeAll(() => {
    sha256Engine(engine);
  });
  afterAll(() => {
    sha256Engine('wasm');
  });
  it('runs the engine asked for (WebAssembly is there on this Node)', () => {
    expect(sha256Engine()).toBe(engine);
  });

  it('FIPS 180-4 examples', () => {
    expect(hex(sha256(Buffer.from('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(sha256(Buffer.from('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(sha256(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('RFC 4231 test cases 1, 2 and 6 (key longer than a block)', () => {
    expect(hex(hmacSha256(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')))).toBe(
      'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    );
    expect(hex(hmacSha256(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(hex(hmacSha256(Buffer.alloc(131, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    );
  });

  it('one key, many messages: each MAC equals a fresh HMAC (the key blocks are reused, not consumed)', () => {
    for (const keyLen of [0, 32, 64, 65, 131]) {
      const key = randomBytes(keyLen);
      const mac = hmacSha256Key(key);
      for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 200]) {
        const msg = randomBytes(len);
        expect(hex(mac(msg))).toBe(createHmac('sha256', key).update(msg).digest('hex'));
      }
    }
  });

  it('random keys and messages of every length around the block boundaries', () => {
    for (let len = 0; len < 300; len++) {
      const key = randomBytes(len % 97);
      const msg = randomBytes(len);
      expect(hex(sha256(msg))).toBe(createHash('sha256').update(msg).digest('hex'));
      expect(hex(hmacSha256(key, msg))).toBe(createHmac('sha256', key).update(msg).digest('hex'));
    }
  });
});

describe('the WebAssembly module', () => {
  it('src/beacon/sha256-wasm.ts is what scripts/gen-sha256-wasm.mjs assembles', () => {
    const root = join(import.meta.dirname, '../..');
    const printed = execFileSync(process.execPath, [join(root, 'scripts/gen-sha256-wasm.mjs'), '--print'], { encoding: 'utf8' });
    expect(readFileSync(join(root, 'src/beacon/sha256-wasm.ts'), 'utf8')).toBe(printed);
  });
});

describe('randomness without node:crypto', () => {
  it('returns the requested number of bytes, different each time', () => {
    const a = randomBytesFast(32);
    const b = randomBytesFast(32);
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
  });

  it('run IDs are version 7: the time first (so they sort by start), then random bits', () => {
    const t = Date.UTC(2026, 10, 23, 12, 0, 0, 123);
    const ids = Array.from({ length: 1000 }, (_, i) => uuidV7(t + i));
    for (const u of ids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(ids[0]!.replace(/-/g, '').slice(0, 12), 16)).toBe(t);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => uuidV7(t))).size).toBe(1000);
    // All 48 bits of the time, written by hand (bytes.ts): the largest time too.
    expect(uuidV7(0x0123456789ab, Buffer.alloc(16)).startsWith('01234567-89ab-7000-8000-')).toBe(true);
    expect(uuidV7(2 ** 48 - 1, Buffer.alloc(16)).startsWith('ffffffff-ffff-')).toBe(true);
  });

  it("the beacon's own hex and text reads agree with Buffer's", () => {
    const bytes = randomBytesFast(64);
    expect(toHex(bytes)).toBe(bytes.toString('hex'));
    expect(toHex(bytes, 3, 19)).toBe(bytes.toString('hex', 3, 19));
    expect(Buffer.from(fromHex(bytes.toString('hex'))).equals(bytes)).toBe(true);
    expect(Buffer.from(fromHex(bytes.toString('hex').toUpperCase())).equals(bytes)).toBe(true);
    for (const [s, ok] of [
      ['0123456789abcdef', true],
      ['0123456789abcdeF', false],
      ['0123456789abcdeg', false],
      ['0123456789abcde', false],
    ] as const)
      expect(isLowerHex(s, 16)).toBe(ok);
    const dir = mkdtempSync(join(tmpdir(), 'beacon-text-'));
    try {
      const p = join(dir, 'state.json');
      writeFileSync(p, '{"noticed":{"ünïcode-tool":"x"}}\n');
      expect(readText(p)).toBe(readFileSync(p, 'utf8'));
      expect(() => readText(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(() => readAll(dir)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
      // Bigger than the first buffer (it grows), and empty.
      const big = randomBytesFast(10_000);
      writeFileSync(p, big);
      expect(Buffer.from(readAll(p, 16)).equals(big)).toBe(true);
      expect(decode(readAll(p), 5000, 'latin1')).toBe(big.toString('latin1', 0, 5000));
      writeFileSync(p, '');
      expect(readAll(p).length).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
