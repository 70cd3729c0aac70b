import fc from 'fast-check';
import { MAX_PLAUSIBLE_DURATION_MS, RECEIVER_MAX_BYTES } from '../../../src/protocol/limits.js';

/**
 * Datagram generators for the decode → validate fuzz (fuzz-decode.test.ts, `npm run fuzz`).
 * Each case is the bytes on the wire plus what the generator knows about them: `valid` means the
 * generator built a datagram the protocol documents as acceptable, so the receiver must store it.
 */
export interface FuzzCase {
  family: string;
  bytes: Uint8Array;
  /** Built to the letter of the protocol (docs/protocol.md, Parsl's reference): must be accepted. */
  valid: boolean;
}

const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const printable = (min: number, max: number) =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });

/** Strings a hostile sender likes: lone surrogates, NUL, controls, astral characters, long runs. */
export const oddString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 70 }),
  fc.string({
    unit: fc.constantFrom('\ud800', '\udfff', '\u0000', '\u001f', '\u2028', '\ufeff', '\uffff', '😀', 'é', '"', '\\'),
    maxLength: 70,
  }),
  fc.string({ unit: 'grapheme', maxLength: 66 }),
  printable(0, 80),
);

const uuid4 = fc
  .tuple(hex(8), hex(4), hex(3), fc.constantFrom('8', '9', 'a', 'b'), hex(3), hex(12))
  .map(([a, b, c, v, d, e]) => `${a}-${b}-4${c}-${v}${d}-${e}`);
const uuid7 = uuid4.map((u) => `${u.slice(0, 14)}7${u.slice(15)}`);
/** Any lowercase 8-4-4-4-12 UUID: what Parsl's decoder accepts (Parsl sends uuid4). */
const anyUuid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((p) => p.join('-'));

const componentKey = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_.-'), minLength: 1, maxLength: 32 })
  .filter((k) => k !== 'constructor' && k !== 'prototype' && k !== '__proto__'); // refused by design (docs/protocol.md)
const componentValue = fc.oneof(
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.string({ unit: 'binary', maxLength: 64 }).filter((s) => [...s].length <= 64),
  fc.string({ unit: fc.constantFrom('\ud800', '\u0000', 'x', '😀'), maxLength: 32 }),
);

/** A native v1 message as the schema and docs/protocol.md allow it, every optional part varied. */
export const nativeMessage = fc
  .record({
    kind: fc.constantFrom('start', 'end'),
    run: fc.oneof(uuid4, uuid7),
    project: printable(1, 64),
    version: printable(1, 64),
    runtime: printable(1, 64),
    user: hex(32),
    host: hex(32),
    script: hex(32),
    t: fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(0)),
    os: printable(1, 32),
    arch: printable(1, 32),
    ci: fc.boolean(),
    eph: fc.option(fc.boolean(), { nil: undefined }),
    components: fc.option(fc.dictionary(componentKey, componentValue, { maxKeys: 16 }), { nil: undefined }),
    exit: fc.integer({ min: 0, max: 255 }),
    dur_ms: fc.oneof(fc.integer({ min: 0, max: MAX_PLAUSIBLE_DURATION_MS }), fc.constant(MAX_PLAUSIBLE_DURATION_MS)),
  })
  .map(({ exit, dur_ms, eph, components, ...m }) => {
    const o: Record<string, unknown> = { v: 1, ...m };
    if (eph !== undefined) o.eph = eph;
    if (components !== undefined) o.components = components;
    if (m.kind === 'end') Object.assign(o, { exit, dur_ms });
    return o;
  });

const version = fc.oneof(printable(1, 64), fc.constantFrom('2023.03.20', '2025.01.13'));
const pyVersion = fc.oneof(printable(1, 57), fc.constantFrom('3.10.12', '3.11.7'));
const osName = fc.oneof(printable(1, 32), fc.constantFrom('Linux', 'Darwin', 'Windows'));
const epochS = fc.oneof(fc.integer({ min: 0, max: 4_102_444_800 }), fc.double({ min: 0, max: 4_102_444_800, noNaN: true }));
const count = fc.nat();
const className = fc.oneof(
  fc.constantFrom(
    'parsl.config.Config',
    'parsl.executors.high_throughput.executor.HighThroughputExecutor',
    'parsl.executors.threads.ThreadPoolExecutor',
    'parsl.providers.slurm.slurm.SlurmProvider',
    'my.CustomExecutor',
  ),
  fc.string({ maxLength: 120 }),
  // Many distinct executor classes: a configuration may list more than the component limit.
  fc.nat(40).map((i) => `parsl.executors.e${i}.Executor${i}`),
);
const component = fc.oneof(className, fc.record({ c: className, mpi: fc.boolean() }));
/** A configuration list: a few mixed components, or many distinct executors (more than the component limit). */
const componentList = fc.oneof(
  fc.array(component, { maxLength: 8 }),
  fc.uniqueArray(
    fc.nat(40).map((i) => `parsl.executors.e${i}.Executor${i}`),
    { minLength: 10, maxLength: 24 },
  ),
);

/** Parsl legacy (plain JSON) start and end, per shared/reference/parsl-wire-formats.md. */
export const parslLegacy = fc.oneof(
  fc.record({
    uuid: anyUuid,
    uname: hex(10),
    hname: hex(10),
    test: fc.constant(false),
    parsl_v: version,
    python_v: pyVersion,
    os: osName,
    os_v: fc.string({ maxLength: 40 }),
    start: epochS,
  }),
  fc.record({
    uuid: anyUuid,
    end: epochS,
    t_apps: count,
    sites: count,
    c_time: fc.constant(null),
    failed: count,
    test: fc.constant(false),
  }),
);

/** Parsl format 1 (`1` + JSON) start at tracking levels 1–3, and the level-3 end. */
export const parslV1 = fc.oneof(
  fc.record(
    {
      correlator: anyUuid,
      parsl_v: version,
      python_v: pyVersion,
      'platform.system': osName,
      tracking_level: fc.constantFrom(1, 2, 3),
      project_name: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
      components: fc.option(componentList, { nil: undefined }),
      start: fc.option(fc.integer({ min: 0, max: 4_102_444_800 }), { nil: undefined }),
    },
    { requiredKeys: ['correlator', 'parsl_v', 'python_v', 'platform.system', 'tracking_level'] },
  ),
  fc.record(
    {
      correlator: anyUuid,
      end: fc.integer({ min: 0, max: 4_102_444_800 }),
      execution_time: fc.integer({ min: 0, max: 31_000_000 }),
      // Parsl puts the DataFlowKernel first; a receiver must not depend on that order.
      components: fc
        .tuple(
          fc.record({ c: fc.constant('parsl.dataflow.dflow.DataFlowKernel'), app_count: count, app_fails: count }),
          componentList,
          fc.nat(),
        )
        .map(([k, rest, at]) => [...rest.slice(0, at % (rest.length + 1)), k, ...rest.slice(at % (rest.length + 1))]),
      project_name: fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
    },
    { requiredKeys: ['correlator', 'end', 'execution_time', 'components'] },
  ),
);

/** JSON text with the keys in a random order and random legal whitespace between tokens. */
function serialize(o: Record<string, unknown>, order: number[], spaces: string[]): string {
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  const sorted = keys
    .map((k, i) => [order[i % order.length]! + i / 1000, k] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, k]) => k);
  const ws = (i: number) => spaces[i % spaces.length] ?? '';
  return `${ws(0)}{${sorted.map((k, i) => `${ws(i + 1)}${JSON.stringify(k)}${ws(i + 2)}:${JSON.stringify(o[k])}`).join(',')}}${ws(keys.length + 3)}`;
}
const layout = fc.tuple(
  fc.array(fc.nat(100), { minLength: 1, maxLength: 16 }),
  fc.array(fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n  '), { minLength: 1, maxLength: 8 }),
);

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
export type Format = 'native' | 'parsl-legacy' | 'parsl-1';
const asText = (format: Format, o: Record<string, unknown>, [order, spaces]: [number[], string[]]) =>
  (format === 'parsl-1' ? '1' : '') + (format === 'parsl-1' ? serialize(o, order, spaces).trimStart() : serialize(o, order, spaces));

/** A documented-valid datagram of any of the three formats, as an object and as bytes. */
export const validDatagram = fc
  .oneof(
    fc.tuple(fc.constant<Format>('native'), nativeMessage, layout),
    fc.tuple(fc.constant<Format>('parsl-legacy'), parslLegacy as fc.Arbitrary<Record<string, unknown>>, layout),
    fc.tuple(fc.constant<Format>('parsl-1'), parslV1 as fc.Arbitrary<Record<string, unknown>>, layout),
  )
  .map(([format, o, l]) => ({ format, value: o, text: asText(format, o, l) }));

/** Things to splice into JSON text: prototype keys, duplicate keys, odd escapes, deep nesting. */
const hostileKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'v',
  'kind',
  'run',
  'uuid',
  'correlator',
  'start',
  'end',
  'components',
  'exit',
  'dur_ms',
  't',
  'user',
  'c',
  'app_count',
);
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  oddString,
  fc.constantFrom(1e308, -0, 1e-320, 2 ** 53, 2 ** 53 + 2, -1, 256, 1.5, true, null, '', {}, []),
  fc.integer({ min: 1, max: 3000 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown),
);
const rawToken = fc.constantFrom(
  'NaN',
  'Infinity',
  '-Infinity',
  '1e400',
  '-1e400',
  '0x10',
  '01',
  '.5',
  '+1',
  'undefined',
  '"\\ud800"',
  '"\\udc00\\ud800"',
  '"\\u0000"',
  '"a\u0000b"',
  '"\\x41"',
  '"\t"',
  "'s'",
  '[',
  '{',
  '}',
  ']',
  ',',
  ':',
  '"',
  '\\',
);
/** Invalid or awkward UTF-8: overlong encodings, encoded surrogates, truncated sequences, BOM, > U+10FFFF. */
const rawBytes = fc.constantFrom(
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xc3],
  [0xe2, 0x82],
  [0xef, 0xbb, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xff],
  [0xfe],
  [0x80],
  [0x00],
  [0xc3, 0xa9],
  [0xf0, 0x9f, 0x98, 0x80],
);

type Mutation =
  | { t: 'set'; key: string; value: unknown }
  | { t: 'delete'; index: number }
  | { t: 'dupKey'; key: string; value: unknown; first: boolean }
  | { t: 'nested'; key: string; value: unknown }
  | { t: 'flip'; pos: number; bit: number }
  | { t: 'insertBytes'; pos: number; bytes: readonly number[] }
  | { t: 'insertToken'; pos: number; token: string }
  | { t: 'cut'; pos: number; len: number }
  | { t: 'truncate'; pos: number }
  | { t: 'pad'; size: number; where: 'inside' | 'after' };

const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
// JSON-level mutations weigh more: they keep the datagram parseable, so they reach the validators.
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  weighted(3, fc.record({ t: fc.constant('set' as const), key: hostileKey, value: jsonish })),
  weighted(2, fc.record({ t: fc.constant('delete' as const), index: fc.nat() })),
  weighted(3, fc.record({ t: fc.constant('dupKey' as const), key: hostileKey, value: jsonish, first: fc.boolean() })),
  weighted(3, fc.record({ t: fc.constant('nested' as const), key: hostileKey, value: jsonish })),
  fc.record({ t: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ t: fc.constant('insertBytes' as const), pos: fc.nat(), bytes: rawBytes }),
  fc.record({ t: fc.constant('insertToken' as const), pos: fc.nat(), token: rawToken }),
  fc.record({ t: fc.constant('cut' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ t: fc.constant('truncate' as const), pos: fc.nat() }),
  // Sizes around the receiver's limit, so exactly-8192 and 8193 are hit often.
  fc.record({
    t: fc.constant('pad' as const),
    size: fc.integer({ min: RECEIVER_MAX_BYTES - 3, max: RECEIVER_MAX_BYTES + 2 }),
    where: fc.constantFrom('inside' as const, 'after' as const),
  }),
);

function applyText(text: string, value: Record<string, unknown>, m: Mutation): string | Uint8Array {
  const prefix = text.startsWith('1{') ? '1' : '';
  const body = prefix ? text.slice(1) : text;
  const closeAt = body.lastIndexOf('}');
  switch (m.t) {
    case 'set': {
      // JSON.stringify of an object with an own "__proto__" key writes it as a plain key: exactly what a sender can send.
      const o = JSON.parse(body) as Record<string, unknown>;
      Object.defineProperty(o, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
      return prefix + JSON.stringify(o);
    }
    case 'delete': {
      const keys = Object.keys(value);
      if (keys.length === 0) return text;
      const o = { ...value };
      delete o[keys[m.index % keys.length]!];
      return prefix + JSON.stringify(o);
    }
    case 'dupKey': {
      const member = `${JSON.stringify(m.key)}:${JSON.stringify(m.value) ?? 'null'}`;
      const open = body.indexOf('{');
      return m.first
        ? `${prefix}${body.slice(0, open + 1)}${member},${body.slice(open + 1)}`
        : `${prefix}${body.slice(0, closeAt)},${member}${body.slice(closeAt)}`;
    }
    case 'nested': {
      // Into components (native: object; Parsl 1: array element) or as an unknown member's value.
      const o = JSON.parse(body) as Record<string, unknown>;
      const c = o.components;
      if (Array.isArray(c)) c.push({ [m.key]: m.value, c: m.key });
      else if (c !== null && typeof c === 'object')
        Object.defineProperty(c, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
      else o.components = { [m.key]: m.value };
      return prefix + JSON.stringify(o);
    }
    case 'insertToken': {
      const p = m.pos % (text.length + 1);
      return text.slice(0, p) + m.token + text.slice(p);
    }
    case 'pad': {
      const have = Buffer.byteLength(text);
      if (m.size <= have) return text;
      if (m.where === 'after') return text + ' '.repeat(m.size - have);
      // Inside: as an unknown member (native: schema-invalid; Parsl: an ignored key).
      const filler = ',"pad":""';
      const n = Math.max(0, m.size - have - filler.length);
      return `${prefix}${body.slice(0, closeAt)},"pad":"${'x'.repeat(n)}"${body.slice(closeAt)}`;
    }
    default: {
      const b = Buffer.from(text, 'utf8');
      if (m.t === 'flip') {
        if (b.length === 0) return b;
        b[m.pos % b.length]! ^= 1 << m.bit;
        return new Uint8Array(b);
      }
      if (m.t === 'insertBytes') {
        const p = m.pos % (b.length + 1);
        return new Uint8Array(Buffer.concat([b.subarray(0, p), Buffer.from(m.bytes), b.subarray(p)]));
      }
      if (m.t === 'cut') {
        const p = m.pos % (b.length + 1);
        return new Uint8Array(Buffer.concat([b.subarray(0, p), b.subarray(p + m.len)]));
      }
      return new Uint8Array(b.subarray(0, m.pos % (b.length + 1)));
    }
  }
}

/** A valid datagram with one to three mutations applied in turn (text- or byte-level). */
export const mutatedDatagram: fc.Arbitrary<FuzzCase> = fc
  .tuple(validDatagram, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([d, ms]) => {
    let cur: string | Uint8Array = d.text;
    let value = d.value;
    for (const m of ms) {
      if (typeof cur !== 'string') {
        // Byte-level results are only mutated further at the byte level.
        if (m.t === 'flip' || m.t === 'insertBytes' || m.t === 'cut' || m.t === 'truncate') {
          cur = applyText(Buffer.from(cur).toString('latin1'), value, m);
          if (typeof cur === 'string') cur = new Uint8Array(Buffer.from(cur, 'latin1'));
        }
        continue;
      }
      try {
        cur = applyText(cur, value, m);
      } catch {
        continue; // the text no longer parses, so an object-level mutation does not apply
      }
      if (typeof cur === 'string') {
        try {
          value = JSON.parse(cur.startsWith('1{') ? cur.slice(1) : cur) as Record<string, unknown>;
        } catch {
          /* keep the last object for 'delete' */
        }
      }
    }
    return { family: `mutated-${d.format}`, bytes: typeof cur === 'string' ? enc(cur) : cur, valid: false };
  });

export const validCase: fc.Arbitrary<FuzzCase> = validDatagram.map((d) => ({
  family: `valid-${d.format}`,
  bytes: enc(d.text),
  valid: true,
}));

/** Any bytes; half of them start like a datagram of one format so they get past the sniff. */
export const arbitraryBytes: fc.Arbitrary<FuzzCase> = fc
  .tuple(fc.constantFrom('', '{', '1{', '{"v":1,', '{"uuid":', '1{"correlator":'), fc.uint8Array({ maxLength: 400 }))
  .map(([head, tail]) => ({ family: 'bytes', bytes: new Uint8Array(Buffer.concat([Buffer.from(head), tail])), valid: false }));

/** Deep nesting, empty and one-byte datagrams, the sizes around the limit. */
export const edgeCase: fc.Arbitrary<FuzzCase> = fc
  .oneof(
    fc.tuple(fc.constantFrom('[', '{"a":', '1{"components":['), fc.integer({ min: 1, max: 5000 })).map(([open, n]) => {
      const close = open === '[' ? ']' : open === '{"a":' ? '}' : ']}';
      return open.startsWith('1')
        ? `1{"correlator":"5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90","components":${'['.repeat(n)}${']'.repeat(n)}}`
        : open.repeat(n) + '0' + close.repeat(n);
    }),
    fc.constantFrom('', '1', '1{', '{', '}', '{}', '1{}', '[]', 'null', '0', '"x"', '1[]', '1null', '11{}', ' 1{}', '\ufeff{}'),
    fc.integer({ min: RECEIVER_MAX_BYTES - 2, max: RECEIVER_MAX_BYTES + 2 }).map((n) => `{"v":1,"x":"${'y'.repeat(Math.max(0, n - 14))}"}`),
  )
  .map((s) => ({ family: 'edge', bytes: enc(s), valid: false }));

/** The mix the fuzz runs: mostly mutations of valid datagrams, where bugs hide. */
export const anyCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 3, arbitrary: validCase },
  { weight: 6, arbitrary: mutatedDatagram },
  { weight: 2, arbitrary: arbitraryBytes },
  { weight: 1, arbitrary: edgeCase },
);
