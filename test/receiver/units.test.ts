import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeParsl } from '../../src/protocol/parsl.js';
import { ReceiverClock } from '../../src/receiver/clock.js';
import { decodeDatagram } from '../../src/protocol/decode.js';
import { RecentKeys } from '../../src/receiver/dedupe.js';
import { KernelDrops } from '../../src/receiver/observe/kernel-drops.js';
import { networkKey, networkLabel } from '../../src/receiver/network-key.js';
import { RateLimiter } from '../../src/receiver/rate-limit.js';
import { Stats } from '../../src/receiver/observe/stats.js';
import { encoder, PARSL_FIXTURES } from './helpers.js';

describe('decodeDatagram', () => {
  it('sniffs native, Parsl legacy and Parsl format 1', () => {
    expect(decodeDatagram(encoder().start(1))).toMatchObject({ format: 'native' });
    expect(decodeDatagram(readFileSync(join(PARSL_FIXTURES, 'legacy-start.json')))).toMatchObject({ format: 'parsl-legacy' });
    expect(decodeDatagram(readFileSync(join(PARSL_FIXTURES, 'v1-level3-end.txt')))).toMatchObject({ format: 'parsl-1' });
  });
  it('accepts multi-byte UTF-8 and refuses invalid UTF-8 before JSON.parse', () => {
    const ok = decodeDatagram(Buffer.from('{"v":1,"project":"café"}'));
    expect(ok).toMatchObject({ format: 'native', value: { project: 'café' } });
    expect(decodeDatagram(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]))).toBe('not_json');
    expect(decodeDatagram(Buffer.from([0xed, 0xa0, 0x80]))).toBe('not_json'); // a lone surrogate
  });
  it('refuses oversized datagrams unread, and a __proto__ key stays an own property', () => {
    expect(decodeDatagram(Buffer.alloc(8193, 0x20))).toBe('oversized');
    const d = decodeDatagram(Buffer.from('{"v":1,"__proto__":{"x":1}}'));
    expect(typeof d).toBe('object');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.getPrototypeOf((d as { value: object }).value)).toBe(Object.prototype);
  });
});

describe('decodeParsl', () => {
  const parse = (name: string) => {
    const b = readFileSync(join(PARSL_FIXTURES, name));
    return b[0] === 0x31 ? decodeParsl(JSON.parse(b.toString().slice(1)), true) : decodeParsl(JSON.parse(b.toString()), false);
  };
  it('maps legacy start and end', () => {
    expect(parse('legacy-start.json')).toMatchObject({
      format: 'parsl-legacy',
      kind: 'start',
      user: '3c2b1a0f9e',
      host: '9d8c7b6a5f',
      version: '2023.03.20',
      runtime: 'python/3.10.12',
      os: 'linux',
      clientMs: 1679400000123,
      durationMs: null,
    });
    expect(parse('legacy-end.json')).toMatchObject({
      kind: 'end',
      clientMs: 1679400123456,
      components: { apps: 40, app_fails: 2, executors: 1 },
    });
  });
  it('maps format 1 with bounded, sanitized components', () => {
    const end = parse('v1-level3-end.txt');
    expect(end).toMatchObject({ format: 'parsl-1', kind: 'end', durationMs: 600_000, user: null, host: null });
    const keys = Object.keys((end as { components: object }).components);
    expect(keys.length).toBeLessThanOrEqual(16);
    for (const k of keys) expect(k).toMatch(/^[a-z0-9_.-]{1,32}$/);
  });
  it('refuses wrong types and odd shapes', () => {
    expect(decodeParsl([], true)).toBe('schema');
    expect(decodeParsl({ uuid: 'x', start: 1 }, false)).toBe('schema');
    expect(decodeParsl({ uuid: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11' }, false)).toBe('schema'); // neither start nor end
    expect(decodeParsl({ uuid: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11', end: 1, t_apps: -1 }, false)).toBe('schema');
    expect(decodeParsl({ uuid: '0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11', start: 1e20 }, false)).toBe('implausible');
    expect(decodeParsl({ correlator: '5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90', parsl_v: 5 }, true)).toBe('schema');
    expect(decodeParsl({ correlator: '5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90', components: 'x' }, true)).toBe('schema');
    expect(decodeParsl({ correlator: '5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90', tracking_level: 9 }, true)).toBe('schema');
  });
});

describe('networkKey and RateLimiter', () => {
  const net = (address: string) => networkLabel(networkKey(address));
  it('truncates IPv4 to /24 and IPv6 to /48', () => {
    expect(net('192.0.2.77')).toBe('192.0.2');
    expect(net('::ffff:192.0.2.77')).toBe('192.0.2');
    expect(net('2001:db8:1:2::5')).toBe('2001:db8:1');
    expect(net('2001:db8::5')).toBe('2001:db8:0');
    expect(net('::1')).toBe('0:0:0');
    expect(net('fe80::1%eth0')).toBe('fe80:0:0');
    expect(net('ffff:ffff:ffff:ffff::')).toBe('ffff:ffff:ffff');
    expect(networkKey('192.0.2.77')).toBe(networkKey('192.0.2.1'));
    expect(networkKey('192.0.2.77')).not.toBe(networkKey('192.0.3.77'));
    // An IPv4 network and the IPv6 network with the same bits are different keys.
    expect(networkKey('0.0.0.1')).not.toBe(networkKey('::1'));
    expect(networkKey('not an address')).toBeNaN();
  });
  it('allows a burst, then the rate, per network', () => {
    const rl = new RateLimiter(10, 100, 1);
    let ok = 0;
    for (let i = 0; i < 50; i++) if (rl.take(networkKey(`10.0.0.${i}`), 1000)) ok++;
    expect(ok).toBe(10);
    expect(rl.take(networkKey('10.0.1.1'), 1000)).toBe(true); // another /24 has its own bucket
    expect(rl.take(networkKey('10.0.0.1'), 1100)).toBe(true); // 100 ms at 10/s refills one token
    expect(rl.take(networkKey('10.0.0.1'), 1100)).toBe(false);
  });
  it('stays bounded under a flood of distinct networks', () => {
    const rl = new RateLimiter(10, 1000);
    for (let i = 0; i < 100_000; i++) rl.take(networkKey(`2001:db8:${i.toString(16)}::1`), 5);
    expect(rl.size).toBeLessThanOrEqual(1000);
  });
});

describe('RecentKeys, Stats, ReceiverClock', () => {
  it('remembers (run, kind) pairs, bounded', () => {
    const r = new RecentKeys(3);
    expect(r.seen('a', 'start')).toBe(false);
    expect(r.seen('a', 'end')).toBe(false);
    expect(r.seen('a', 'start')).toBe(true);
    r.seen('b', 'start');
    r.seen('c', 'start');
    expect(r.size).toBe(3);
    expect(r.seen('a', 'start')).toBe(false); // evicted: the store's key takes over
  });
  it('keeps per-day increments until taken, and restores them after a failed write', () => {
    const s = new Stats();
    s.count('received', '2026-01-31');
    s.count('received', '2026-02-01', 2);
    s.reject('schema', '2026-02-01');
    const d = s.takeDeltas();
    expect(d).toEqual([
      { day: '2026-01-31', counts: { received: 1 } },
      { day: '2026-02-01', counts: { received: 2, 'rejected.schema': 1 } },
    ]);
    expect(s.hasPending()).toBe(false);
    s.restore(d);
    expect(s.takeDeltas()).toEqual(d);
    expect(s.totals.received).toBe(3);
  });
  it('buckets by UTC day and month, following the clock across midnight', () => {
    let t = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
    const c = new ReceiverClock(() => t);
    c.tick();
    expect(c.current).toEqual({ day: '2026-01-31', month: 202601 });
    t += 1;
    c.tick();
    expect(c.current).toEqual({ day: '2026-02-01', month: 202602 });
  });
});

describe('KernelDrops', () => {
  it('finds our own socket in /proc/net/udp and reads its queue', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      const q = new KernelDrops(sock.address().port).read();
      expect(q).toEqual({ drops: 0, rxQueueBytes: 0 });
      expect(new KernelDrops(1).read()).toBeUndefined();
    } finally {
      sock.close();
    }
  });
});
