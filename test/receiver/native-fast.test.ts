import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRunEncoder } from '../../src/protocol/encode.js';
import { fastNativeRecord } from '../../src/receiver/native-fast.js';
import { FLAG_NON_ASCII } from '../../src/protocol/decode.js';
import { createRecordReader } from '../../src/receiver/pipeline.js';

/**
 * The native fast path (src/receiver/native-fast.ts) against the full path with ajv and the
 * protocol's JSON Schema as the reference: whenever the fast path returns a record, the full path
 * accepts the same datagram and builds an identical record. (It never rejects: anything it is not
 * sure of goes to the full path.) And it is not a path that bails on everything: the datagrams
 * the beacon's own encoder writes take it.
 */
const full = createRecordReader({ fast: false, legacyId: (_kind, raw) => raw });
const NOW = 1_780_000_000_000;
const MONTH = 202606;

function check(buf: Buffer): 'fast' | 'full' {
  const flags = buf.every((b) => b < 0x80) ? 0 : FLAG_NON_ASCII;
  const fast = flags ? undefined : fastNativeRecord(buf, 0, buf.length, NOW, MONTH);
  if (fast === undefined) return 'full';
  const ref = full(buf, 0, buf.length, flags, NOW, MONTH);
  expect(ref, `fast path accepted what the full path rejects: ${buf.toString('latin1')}`).toEqual(fast);
  return 'fast';
}

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const printable = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: max });
const anyText = fc.string({ unit: 'binary', maxLength: 70 });
const uuid = fc
  .tuple(hex(8), hex(4), fc.constantFrom('4', '7', '1'), hex(3), fc.constantFrom('8', '9', 'a', 'b', 'c'), hex(3), hex(12))
  .map(([a, b, v, c, w, d, e]) => `${a}-${b}-${v}${c}-${w}${d}-${e}`);
const componentKey = fc.oneof(
  fc.stringMatching(/^[a-z0-9_.-]{1,32}$/),
  fc.constantFrom('__proto__', 'constructor', 'prototype', '1', '07', 'A', ''),
  anyText,
);
const componentValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1e300, 2 ** 53, -(2 ** 53) - 2, 1.5),
  printable(64),
  anyText,
  fc.boolean(),
  fc.constant(null),
);
const components = fc.dictionary(componentKey, componentValue, { maxKeys: 18 });
const identity = fc.record({
  run: uuid,
  project: fc.oneof(printable(64), anyText),
  version: fc.oneof(printable(70), anyText),
  user: fc.oneof(hex(32), anyText),
  host: hex(32),
  script: hex(32),
  runtime: printable(64),
  os: fc.oneof(printable(33), anyText),
  arch: printable(32),
  ci: fc.boolean(),
  components: fc.option(components, { nil: undefined }),
});

describe('native fast path agrees with ajv (JSON Schema) and the full path', () => {
  it('on what the beacon encoder writes, and takes the fast path for plain ones', () => {
    let fastCount = 0;
    let total = 0;
    fc.assert(
      fc.property(
        identity,
        fc.integer({ min: 0, max: 2 ** 47 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 ** 36 }),
        (id, t, exit, dur) => {
          let enc;
          try {
            enc = createRunEncoder(id as never);
          } catch {
            return; // the encoder refuses some identities outright
          }
          for (const buf of [enc.start(t), enc.end(t, exit, dur)]) {
            total++;
            if (check(buf) === 'fast') fastCount++;
          }
        },
      ),
      { numRuns: 1500 },
    );
    const plain = createRunEncoder({
      run: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11',
      project: 'parsl',
      version: '2025.01.13',
      user: 'a'.repeat(32),
      host: 'b'.repeat(32),
      script: 'c'.repeat(32),
      runtime: 'python/3.11.7',
      os: 'linux',
      arch: 'x64',
      ci: false,
      components: { executors: 2, provider: 'slurm' },
    });
    expect(check(plain.start(NOW))).toBe('fast');
    expect(check(plain.end(NOW, 0, 1000))).toBe('fast');
    // Some generated identities are plain enough for the fast path: it is exercised here too.
    expect(fastCount).toBeGreaterThan(0);
    expect(total).toBeGreaterThan(fastCount);
  });

  it('takes the fast path for every plain datagram (what beacons send), with the same record', () => {
    const plainChar = (lo: number) =>
      fc
        .integer({ min: lo, max: 0x7e })
        .filter((c) => c !== 0x22 && c !== 0x5c)
        .map((c) => String.fromCharCode(c));
    const label = (max: number) => fc.string({ unit: plainChar(0x21), minLength: 1, maxLength: max });
    const key = fc.stringMatching(/^[a-z_.-][a-z0-9_.-]{0,31}$/).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
    const plain = fc.record({
      run: fc
        .tuple(hex(8), hex(4), fc.constantFrom('4', '7'), hex(3), fc.constantFrom('8', '9', 'a', 'b'), hex(3), hex(12))
        .map(([a, b, v, c, w, d, e]) => `${a}-${b}-${v}${c}-${w}${d}-${e}`),
      project: label(64),
      version: label(64),
      user: hex(32),
      host: hex(32),
      script: hex(32),
      runtime: label(64),
      os: label(32),
      arch: label(32),
      ci: fc.boolean(),
      components: fc.dictionary(key, fc.oneof(fc.integer(), fc.string({ unit: plainChar(0x20), maxLength: 64 })), { maxKeys: 16 }),
    });
    fc.assert(
      fc.property(
        plain,
        fc.integer({ min: 0, max: 2 ** 47 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 ** 34 }),
        (id, t, exit, dur) => {
          const enc = createRunEncoder(id);
          expect(check(enc.start(t))).toBe('fast');
          expect(check(enc.end(t, exit, dur))).toBe('fast');
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('on hand-built objects: any subset of keys, any value types, whitespace, duplicates, order', () => {
    const key = fc.constantFrom(
      'v',
      'kind',
      'run',
      'project',
      'version',
      'user',
      'host',
      'script',
      't',
      'runtime',
      'os',
      'arch',
      'ci',
      'eph',
      'components',
      'exit',
      'dur_ms',
      'uuid',
      '__proto__',
      'x',
    );
    const valueText = fc.oneof(
      fc.constantFrom(
        '1',
        '1.0',
        '1e0',
        '01',
        '-0',
        '0',
        '-1',
        '255',
        '256',
        '31622400000',
        '31622400001',
        '9007199254740993',
        'true',
        'false',
        'null',
        '"start"',
        '"end"',
        '"End"',
        '[]',
        '{}',
        '" start"',
      ),
      uuid.map((u) => JSON.stringify(u)),
      hex(32).map((h) => JSON.stringify(h)),
      printable(70).map((s) => JSON.stringify(s)),
      anyText.map((s) => JSON.stringify(s)),
      fc.integer().map(String),
      fc.double({ noNaN: true }).map((d) => JSON.stringify(d)),
      components.map((c) => JSON.stringify(c)),
      components.map((c) => JSON.stringify(c, null, 1)),
    );
    const ws = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n ');
    fc.assert(
      fc.property(fc.array(fc.tuple(key, valueText, ws, ws), { maxLength: 20 }), ws, (entries, w) => {
        const text = `${w}{${entries.map(([k, v, a, b]) => `${a}"${k}"${b}:${a}${v}${b}`).join(',')}}${w}`;
        check(Buffer.from(text, 'latin1'));
      }),
      { numRuns: 3000 },
    );
  });

  it('on valid datagrams every required key of which is present, with generated values in place', () => {
    const base = () =>
      ({
        v: 1,
        kind: 'start',
        run: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11',
        project: 'parsl',
        version: '1',
        user: 'a'.repeat(32),
        host: 'b'.repeat(32),
        script: 'c'.repeat(32),
        t: 5,
        runtime: 'py',
        os: 'linux',
        arch: 'x64',
        ci: false,
      }) as Record<string, unknown>;
    const field = fc.constantFrom(
      'v',
      'kind',
      'run',
      'project',
      'version',
      'user',
      'host',
      'script',
      't',
      'runtime',
      'os',
      'arch',
      'ci',
      'eph',
      'components',
      'exit',
      'dur_ms',
    );
    const value = fc.oneof(
      fc.constantFrom<unknown>(1, 0, -1, 255, 256, 1.5, 'start', 'end', true, false, null, {}, [], 2 ** 53, 31_622_400_000, 31_622_400_001),
      uuid,
      hex(32),
      printable(70),
      anyText,
      fc.integer(),
      components,
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(field, value), { maxLength: 4 }), fc.boolean(), (changes, end) => {
        const m = base();
        if (end) Object.assign(m, { kind: 'end', exit: 0, dur_ms: 10 });
        for (const [k, v] of changes) m[k] = v;
        check(Buffer.from(JSON.stringify(m), 'latin1'));
      }),
      { numRuns: 3000 },
    );
  });

  it('on valid datagrams with bytes mutated, deleted or inserted', () => {
    const enc = createRunEncoder({
      run: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11',
      project: 'parsl',
      version: '2025.01.13',
      user: 'a'.repeat(32),
      host: 'b'.repeat(32),
      script: 'c'.repeat(32),
      runtime: 'python/3.11.7',
      os: 'linux',
      arch: 'x64',
      ci: true,
      components: { executors: 2, htex: 1, provider: 'slurm' },
    });
    const samples = [enc.start(NOW), enc.end(NOW, 3, 12345)];
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'delete', 'insert')), {
          minLength: 1,
          maxLength: 3,
        }),
        (which, edits) => {
          const bytes = [...samples[which]!];
          for (const [at, b, op] of edits) {
            const i = at % (bytes.length + 1);
            if (op === 'set' && i < bytes.length) bytes[i] = b;
            else if (op === 'delete') bytes.splice(i, 1);
            else bytes.splice(i, 0, b);
          }
          check(Buffer.from(bytes));
        },
      ),
      { numRuns: 5000 },
    );
  });
});
