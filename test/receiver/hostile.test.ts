import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { counters, encoder, query, send, startReceiver, tempDir, waitFor, type RunningReceiver } from './helpers.js';

let rx: RunningReceiver | undefined;
let tmp: ReturnType<typeof tempDir>;
afterEach(async () => {
  if (rx) await rx.stop();
  rx = undefined;
  tmp?.cleanup();
});

/** A valid start datagram as an object, to be corrupted one way or another. */
function validStart(): Record<string, unknown> {
  return JSON.parse(
    encoder({ components: { n: 1 } })
      .start(Date.now())
      .toString(),
  ) as Record<string, unknown>;
}
const j = (o: unknown) => Buffer.from(JSON.stringify(o));
const withField = (k: string, v: unknown) => ({ ...validStart(), [k]: v });
const validEnd = () => JSON.parse(encoder().end(Date.now(), 0, 10).toString()) as Record<string, unknown>;

// Both UDP readers: the native batch reader (the default where it is built) and node:dgram.
describe.each<[string, Record<string, string>]>([
  ['native batch reader', {}],
  ['node:dgram reader', { BEACON_UDP_READER: 'dgram' }],
])('hostile input (%s)', (_, env) => {
  it('counts each bad datagram by reason, keeps running, then stores a valid one', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', 'off', '--log-level', 'debug'], env);
    expect(rx.lines.find((l) => l.msg === 'listening')).toMatchObject({ reader: env.BEACON_UDP_READER ? 'dgram' : 'recvmmsg' });
    const truncated = encoder().start(Date.now());
    const cases: Array<[string, Buffer]> = [
      ['not_json', Buffer.concat([Buffer.from([0xfe, 0xff]), randomBytes(300)])], // random bytes
      ['not_json', truncated.subarray(0, truncated.length >> 1)], // truncated JSON
      ['oversized', Buffer.alloc(64 * 1024 - 100, 0x7b)], // 64 KiB datagram
      ['oversized', Buffer.from(`{"v":1,"pad":"${'x'.repeat(8200)}"}`)], // just over 8 KiB
      ['oversized', Buffer.from(`{"pad":"${'x'.repeat(8183)}"}`)], // 8193 bytes: one too many
      ['unknown_protocol', Buffer.from(`{"pad":"${'x'.repeat(8182)}"}`)], // exactly 8 KiB: read whole, then judged
      ['unknown_protocol', Buffer.from('['.repeat(4000) + ']'.repeat(4000))], // deeply nested arrays
      ['schema', j(withField('components', JSON.parse('['.repeat(3000) + ']'.repeat(3000))))],
      ['schema', Buffer.from(JSON.stringify(validStart()).replace(/^\{/, '{"__proto__":{"polluted":1},'))],
      ['schema', Buffer.from(JSON.stringify(validStart()).replace(/"components":\{/, '"components":{"__proto__":1,'))],
      ['schema', j(withField('components', { constructor: 'x' }))],
      ['schema', j(withField('constructor', { prototype: { polluted: 1 } }))],
      ['not_json', Buffer.from(JSON.stringify(validEnd()).replace(/"dur_ms":\d+/, '"dur_ms":NaN'))],
      ['not_json', Buffer.from(JSON.stringify(validEnd()).replace(/"dur_ms":\d+/, '"dur_ms":Infinity'))],
      ['implausible', Buffer.from(JSON.stringify(validEnd()).replace(/"dur_ms":\d+/, '"dur_ms":1e400'))], // parses to Infinity
      ['schema', j({ ...validEnd(), exit: '0' })], // wrong types
      ['schema', j({ ...validStart(), ci: 'yes' })],
      ['schema', j({ ...validStart(), run: 12345 })],
      ['schema', j({ ...validStart(), user: 'alice' })], // a raw username is not an ID
      ['implausible', j({ ...validEnd(), dur_ms: 1e300 })], // huge numbers
      ['implausible', j({ ...validEnd(), dur_ms: -5 })],
      ['implausible', j({ ...validEnd(), dur_ms: 400 * 24 * 3600 * 1000 })],
      ['implausible', j({ ...validStart(), t: 1e300 })],
      ['implausible', j({ ...validStart(), components: { n: 1e300 } })],
      ['not_json', Buffer.concat([Buffer.from('{"v":1,"kind":"start","project":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])], // invalid UTF-8
      ['not_json', Buffer.alloc(0)],
      ['unknown_protocol', j({ ...validStart(), v: 2 })],
      ['unknown_protocol', j({ hello: 'world' })],
      ['unknown_protocol', Buffer.from('"just a string"')],
      ['schema', Buffer.from('1{"correlator": 5}')], // Parsl format 1, wrong type
      ['schema', Buffer.from('{"uuid": "0b7f0d3e-2a4c-4b8e-9a4f-2f2b6f0d9c11", "uname": "root", "start": 1}')], // legacy, raw name
      ['implausible', Buffer.from('1{"correlator": "5a0c7d7e-1f7e-4a47-b0a5-3f1c7a6b2e90", "end": 1736800600, "execution_time": -600}')],
    ];
    await send(
      rx.port,
      cases.map(([, d]) => d),
    );
    const expected: Record<string, number> = {};
    for (const [reason] of cases) expected[`rejected.${reason}`] = (expected[`rejected.${reason}`] ?? 0) + 1;
    await waitFor('all rejections persisted', () => counters(tmp.db).received === cases.length && counters(tmp.db));
    expect(counters(tmp.db)).toEqual({ received: cases.length, ...expected });
    expect(rx.child.exitCode).toBeNull();

    const ok = encoder();
    await send(rx.port, [ok.start(Date.now())]);
    await waitFor('the valid run', () => query(tmp.db, 'SELECT run FROM runs WHERE run = ?', ok.id.run).length === 1);
    expect(query(tmp.db, 'SELECT count(*) AS n FROM runs')).toEqual([{ n: 1 }]);
    // Nothing was polluted in the daemon: it still answers metrics-free liveness by storing, and
    // the debug log names only the truncated network, never the full source address.
    const debugLines = rx.lines.filter((l) => l.msg === 'rejected');
    expect(debugLines.length).toBe(cases.length);
    expect(debugLines.every((l) => l.net === '127.0.0')).toBe(true);
    expect(JSON.stringify(rx.lines.filter((l) => l.msg !== 'listening'))).not.toContain('127.0.0.1');
  });

  it('rate-limits a flooding source network and says so in the counters', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', '5'], env);
    const runs = Array.from({ length: 40 }, () => encoder().start(Date.now()));
    await send(rx.port, runs);
    await waitFor('40 received', () => counters(tmp.db).received === 40);
    const c = counters(tmp.db);
    // Burst of 2 s × 5/s = 10 tokens, plus whatever refilled while sending.
    expect(c['rejected.rate_limited']).toBeGreaterThanOrEqual(20);
    expect(c.stored! + c['rejected.rate_limited']!).toBe(40);
    expect(query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM runs')[0]!.n).toBe(c.stored);
  });

  it('never sends a byte back to a sender', async () => {
    tmp = tempDir();
    rx = await startReceiver(tmp.db, ['--rate-limit', '1'], env);
    const { createSocket } = await import('node:dgram');
    const sock = createSocket('udp4');
    const replies: Buffer[] = [];
    sock.on('message', (m) => replies.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const bad = [Buffer.from('garbage'), encoder().start(Date.now()), Buffer.alloc(9000), Buffer.from('{"v":9}')];
    for (const d of [...bad, ...bad]) await new Promise<void>((r) => sock.send(d, rx!.port, '127.0.0.1', () => r()));
    await waitFor('all received', () => counters(tmp.db).received === bad.length * 2);
    await new Promise((r) => setTimeout(r, 200));
    sock.close();
    expect(replies).toEqual([]);
  });
});
