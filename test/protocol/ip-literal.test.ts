import { isIP, isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ipFamily, isIPv4Literal, isIPv6Literal } from '../../src/protocol/ip-literal.js';

// node:net is the reference: the beacon must classify exactly as it did when it used isIP().
const TABLE = [
  // IPv4
  '0.0.0.0',
  '127.0.0.1',
  '255.255.255.255',
  '192.168.1.1',
  '1.2.3.4',
  '10.0.0.255',
  '256.0.0.1',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '1.02.3.4',
  '1.2.3.004',
  '00.0.0.0',
  '1..2.3',
  '.1.2.3',
  '1.2.3.',
  '1.2.3.4 ',
  ' 1.2.3.4',
  '+1.2.3.4',
  '-1.2.3.4',
  '1.2.3.-4',
  '1.2.3.a',
  '1.2.3.4%eth0',
  '1.2.3.1000',
  '999.1.1.1',
  '1e2.1.1.1',
  '0x1.2.3.4',
  '1.2.3.4/24',
  '１.2.3.4',
  // IPv6
  '::',
  '::1',
  '1::',
  '::ffff:1.2.3.4',
  '::1.2.3.4',
  '1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  '1::3:4:5:6:7:8',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5::1.2.3.4',
  '1:2:3:4::5:1.2.3.4',
  '1::2:3:4:5:1.2.3.4',
  '2001:db8::1',
  '2001:DB8::ABCD',
  'fe80::1%eth0',
  'fe80::1%1',
  'fe80::1%en0.1-x:y',
  'FFFF:ffff:0:0:0:0:0:0',
  '0000:0000:0000:0000:0000:0000:0000:0001',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7',
  ':::',
  '1:::2',
  '1::2::3',
  ':1:2:3:4:5:6:7',
  '1:2:3:4:5:6:7:',
  '12345::1',
  'g::1',
  '::g',
  '1:2:3:4:5:6:7:1.2.3.4',
  '::1.2.3',
  '::1.2.3.4.5',
  '::01.2.3.4',
  '1.2.3.4::',
  '1.2.3.4::1',
  '::1.2.3.4:1',
  '::ffff:256.1.1.1',
  'fe80::1%',
  'fe80::1%%',
  'fe80::1%a%b',
  'fe80::1%a b',
  'fe80::1%a/b',
  'fe80::1%é',
  '%eth0',
  '::%eth0',
  ':',
  '[::1]',
  '::1 ',
  ' ::1',
  '1:2:3:4:5:6::',
  '1:2:3:4:5:6::7',
  '1:2:3:4:5:6:7::8',
  '1:2:3:4:5::7:8',
  '::ffff:',
  ':ffff::',
  '1:2:3:4:5:6:7:8%z',
  '::1%lo:0',
  'fe80::1%_',
  'fe80::1%A-Z.0:9',
  // hostnames and junk
  '',
  'localhost',
  'collector.example.org',
  'a:b',
  'a:b:c',
  '1:2',
  '::::',
  'abc::def',
  'x',
  '.',
  '...',
];

/** Deterministic fuzz: strings over the characters that matter, with a fixed-seed PRNG. */
function* fuzz(count: number): Generator<string> {
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const alphabets = ['0123456789.', '0123456789abcdefABCDEF:', '0129af:.', '01:.%ae-', '0123456789abcdefg:.%-xZ '];
  for (let i = 0; i < count; i++) {
    const alphabet = alphabets[i % alphabets.length]!;
    const len = Math.floor(next() * 24);
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(next() * alphabet.length)];
    yield s;
  }
}

/** Mutations of valid addresses: near misses are where a classifier goes wrong. */
function* mutations(): Generator<string> {
  const valid = TABLE.filter((s) => isIP(s) !== 0);
  const inserts = ['', '0', '1', 'f', ':', '.', '%', '::', '00', '.0', ':0'];
  for (const v of valid) {
    for (let i = 0; i <= v.length; i++) {
      yield v.slice(0, i) + v.slice(i + 1); // delete one character
      for (const ins of inserts) yield v.slice(0, i) + ins + v.slice(i); // insert
    }
  }
}

function agree(s: string): void {
  expect([s, ipFamily(s)]).toEqual([s, isIP(s)]);
  expect([s, isIPv4Literal(s)]).toEqual([s, isIPv4(s)]);
  expect([s, isIPv6Literal(s)]).toEqual([s, isIPv6(s)]);
}

describe('ip-literal', () => {
  it('classifies a table of valid and invalid literals exactly like node:net', () => {
    expect(TABLE.filter((s) => isIP(s) === 4).length).toBeGreaterThan(5);
    expect(TABLE.filter((s) => isIP(s) === 6).length).toBeGreaterThan(20);
    for (const s of TABLE) agree(s);
  });

  it('agrees with node:net on every one-character mutation of the valid literals', () => {
    let n = 0;
    for (const s of mutations()) {
      agree(s);
      n++;
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('agrees with node:net on 50,000 fuzzed strings, including some that are valid', () => {
    const families = new Set<number>();
    for (const s of fuzz(50_000)) {
      agree(s);
      families.add(isIP(s));
    }
    expect([...families].sort()).toEqual([0, 4, 6]);
  });
});
