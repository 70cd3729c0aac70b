import { isIP, isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseCollector } from '../../src/protocol/collector.js';
import { DEFAULT_PORT } from '../../src/protocol/limits.js';

// parseCollector() was rewritten without regular expressions or node:net (start-path cost). This is
// the earlier implementation, kept verbatim as the reference the new one must agree with everywhere.
function referenceParseCollector(spec: string | undefined) {
  if (!spec) return undefined;
  const s = spec.trim();
  const mayBeIPv6 = (x: string) => x.indexOf(':') !== x.lastIndexOf(':');
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if (mayBeIPv6(s) && isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      portText = s.slice(i + 1);
    } else {
      host = s;
    }
  }
  if (!host || /[\s/]/.test(host)) return undefined;
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  const family = isIPv4(host) ? 4 : mayBeIPv6(host) && isIP(host) === 6 ? 6 : 0;
  return { host, port, family };
}

const TABLE = [
  undefined,
  '',
  ' ',
  '127.0.0.1',
  '127.0.0.1:9999',
  ' 127.0.0.1:1 ',
  'usage.example.org',
  'usage.example.org:50077',
  'h:7',
  'h:0',
  'h:65535',
  'h:65536',
  'h:123456',
  'h:',
  ':80',
  'h:-1',
  'h:+1',
  'h:1e3',
  'h:٣',
  'h: 80',
  'h:80 x',
  '[::1]',
  '[::1]:5',
  '[::1]:',
  '[::1]:x',
  '[::1]:00080',
  '[]',
  '[]:5',
  '[:]',
  '[a]',
  '[a]:1',
  '[::1',
  '::1]',
  '[[::1]]',
  '[::1]]:5',
  '[::1]:5]',
  '[::1]:5:6',
  '[ ::1]:5',
  '[::1%eth0]:5',
  '[1.2.3.4]:5',
  '::1',
  '::',
  'fe80::1%eth0',
  '1::2:80',
  '2001:db8::1:50077',
  'a:b:c',
  'a b:1',
  'a/b:1',
  'a\tb',
  'a\u00a0b',
  'a\u2003b',
  'a\u200bb',
  'a\u180eb',
  'a\ufeffb',
  'a\u3000b',
  'a\u2028b',
  'a\u0085b',
  'a\vb',
  'localhost:1',
  'LOCALHOST',
  '1.2.3.256:5',
  '01.2.3.4:5',
  '[fe80::1%lo]:9',
];

function* fuzz(count: number): Generator<string> {
  let seed = 0x1b873593;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const alphabets = ['[]:0129a.', '0123456789:.', 'ab:[]1 /%\t', '[]:1f.\u00a0\u2000\u200b\u2029\u180e\ufeff\u0085 '];
  for (let i = 0; i < count; i++) {
    const alphabet = alphabets[i % alphabets.length]!;
    const len = Math.floor(next() * 14);
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    yield s;
  }
}

describe('parseCollector', () => {
  it('agrees with the regex and node:net reference on a table of specs', () => {
    for (const spec of TABLE) expect([spec, parseCollector(spec)]).toEqual([spec, referenceParseCollector(spec)]);
    expect(TABLE.filter((s) => referenceParseCollector(s)?.family === 6).length).toBeGreaterThan(4);
  });

  it('agrees with the reference on 40,000 fuzzed specs, usable and not', () => {
    const seen = new Set<string>();
    for (const spec of fuzz(40_000)) {
      const expected = referenceParseCollector(spec);
      expect([spec, parseCollector(spec)]).toEqual([spec, expected]);
      seen.add(expected ? `family ${expected.family}` : 'unusable');
    }
    expect([...seen].sort()).toEqual(['family 0', 'family 4', 'family 6', 'unusable']);
  });
});
