import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { loadProtocolSchema } from '../../src/protocol/schema.js';
import {
  MAX_COMPONENTS,
  MAX_DATAGRAM_BYTES,
  createRunEncoder,
  encodeMessage,
  formatCollector,
  parseCollector,
  sanitizeComponents,
} from '../../src/protocol/index.js';
import type { RunIdentity } from '../../src/protocol/index.js';

const validate = new Ajv({ strict: false }).compile(loadProtocolSchema());

function identity(extra: Partial<RunIdentity> = {}): RunIdentity {
  return {
    run: '3b241101-e2bb-4255-8caf-4136c566a962',
    project: 'parsl',
    version: '2024.1.1',
    user: 'a'.repeat(32),
    host: 'b'.repeat(32),
    script: 'c'.repeat(32),
    runtime: 'python/3.11.7',
    os: 'linux',
    arch: 'x64',
    ci: false,
    ...extra,
  };
}

function maximal(): RunIdentity {
  const components: Record<string, string> = {};
  for (let i = 0; i < 20; i++) components[`${String(i).padStart(2, '0')}${'k'.repeat(30)}`] = '\u00e9'.repeat(64); // 2 bytes per char in UTF-8
  return identity({
    project: 'p'.repeat(200),
    version: 'v'.repeat(200),
    runtime: 'r'.repeat(200),
    os: 'o'.repeat(200),
    arch: 'a'.repeat(200),
    ci: true,
    eph: true,
    components,
  });
}

describe('run encoder', () => {
  it('start and end are schema-valid JSON carrying every identity field', () => {
    const enc = createRunEncoder(identity({ components: { executors: 2, provider: 'slurm' } }));
    const start = JSON.parse(enc.start(1_700_000_000_123.7).toString());
    const end = JSON.parse(enc.end(1_700_000_005_000, 3, 4876.6).toString());
    expect(validate(start), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(end), JSON.stringify(validate.errors)).toBe(true);
    expect(start).toMatchObject({ v: 1, kind: 'start', t: 1_700_000_000_123, components: { executors: 2, provider: 'slurm' } });
    expect(start.exit).toBeUndefined();
    expect(end).toMatchObject({
      kind: 'end',
      exit: 3,
      dur_ms: 4877,
      run: start.run,
      user: start.user,
      host: start.host,
      script: start.script,
    });
  });

  it('the schema: a start carries no exit or run length, an end needs both', () => {
    const enc = createRunEncoder(identity());
    const start = JSON.parse(enc.start(1_700_000_000_000).toString());
    const end = JSON.parse(enc.end(1_700_000_005_000, 0, 5000).toString());
    expect(validate({ ...start, exit: 0 })).toBe(false);
    expect(validate({ ...start, dur_ms: 5 })).toBe(false);
    expect(validate({ ...start, exit: 0, dur_ms: 5 })).toBe(false);
    const { exit: _exit, ...endWithoutExit } = end;
    const { dur_ms: _dur, ...endWithoutDuration } = end;
    expect(validate(endWithoutExit)).toBe(false);
    expect(validate(endWithoutDuration)).toBe(false);
    expect(validate(start)).toBe(true);
    expect(validate(end)).toBe(true);
  });

  it('exit statuses wrap like the OS does (0-255), negative durations clamp to 0', () => {
    const enc = createRunEncoder(identity());
    expect(JSON.parse(enc.end(1, 256 + 7, -5).toString())).toMatchObject({ exit: 7, dur_ms: 0 });
    expect(JSON.parse(enc.end(1, 143, 1).toString()).exit).toBe(143);
  });

  it('≤ 1200 bytes and schema-valid even with maximal components and over-long labels', () => {
    const enc = createRunEncoder(maximal());
    const start = enc.start(Number.MAX_SAFE_INTEGER);
    const end = enc.end(Number.MAX_SAFE_INTEGER, 255, 366 * 24 * 3600 * 1000);
    for (const d of [start, end]) {
      expect(d.length).toBeLessThanOrEqual(MAX_DATAGRAM_BYTES);
      const msg = JSON.parse(d.toString('utf8'));
      expect(validate(msg), JSON.stringify(validate.errors)).toBe(true);
      expect(Object.keys(msg.components).length).toBeGreaterThan(0);
      expect(Object.keys(msg.components).length).toBeLessThanOrEqual(MAX_COMPONENTS);
    }
    // start and end carry the same components after trimming
    expect(JSON.parse(start.toString()).components).toEqual(JSON.parse(end.toString()).components);
  });

  it('labels are cleaned to printable ASCII; invalid components are dropped, not half-sent', () => {
    const msg = JSON.parse(
      encodeMessage({
        ...identity({
          project: 'my tool\n',
          components: { OK: 1, good: Infinity, 'a-b': 'x'.repeat(100), flag: true as never, obj: {} as never },
        }),
        v: 1,
        kind: 'start',
        t: 5,
      }).toString(),
    );
    expect(msg.project).toBe('my_tool_');
    expect(msg.components).toEqual({ 'a-b': 'x'.repeat(64), flag: 1 });
    expect(validate(msg)).toBe(true);
    expect(sanitizeComponents([1, 2])).toBeUndefined();
    expect(sanitizeComponents(null)).toBeUndefined();
  });
});

describe('collector parsing', () => {
  it('accepts host:port, [v6]:port, bare host (default port) and bare IPv6', () => {
    expect(parseCollector('127.0.0.1:9999')).toEqual({ host: '127.0.0.1', port: 9999, family: 4 });
    expect(parseCollector('usage.example.org')).toEqual({ host: 'usage.example.org', port: 50077, family: 0 });
    expect(parseCollector('[::1]:5')).toEqual({ host: '::1', port: 5, family: 6 });
    expect(parseCollector('::1')).toEqual({ host: '::1', port: 50077, family: 6 });
    expect(formatCollector(parseCollector('[::1]:5')!)).toBe('[::1]:5');
    expect(formatCollector(parseCollector('h:7')!)).toBe('h:7');
  });

  it('rejects what cannot be a collector', () => {
    for (const bad of [undefined, '', 'host:0', 'host:65536', 'host:x', 'a b:1', 'a/b:1', ':80', '[::1]:99999']) {
      expect(parseCollector(bad), String(bad)).toBeUndefined();
    }
  });
});
