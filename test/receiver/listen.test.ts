import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { isBeaconError } from '../../src/errors.js';
import { listenUdp, type Listening } from '../../src/receiver/listen.js';
import { FLAG_NON_ASCII, FLAG_TRUNCATED } from '../../src/protocol/decode.js';
import { nativeUdp } from '../../src/receiver/native-udp.js';
import { networkKey } from '../../src/receiver/network-key.js';
import { waitFor } from './helpers.js';

/**
 * The two UDP readers under the pipeline, on real sockets: what reaches the sink (bytes, length,
 * flags, source network key) must be the same whichever reader is in use.
 */

interface Got {
  text: string;
  length: number;
  flags: number;
  net: number;
}

let open: Listening[] = [];
afterEach(async () => {
  for (const l of open) await l.close();
  open = [];
});

async function listen(reader: 'native' | 'dgram', host: string, port = 0): Promise<Listening> {
  const l = await listenUdp(host, port, undefined, undefined, reader === 'dgram' ? 'dgram' : 'auto');
  open.push(l);
  return l;
}

function collect(l: Listening): Got[] {
  const got: Got[] = [];
  l.start(
    (buf, start, length, flags, net) => got.push({ text: buf.toString('latin1', start, start + Math.min(length, 64)), length, flags, net }),
    (err) => {
      throw new Error(err);
    },
  );
  return got;
}

async function sendFrom(host: string, to: string, port: number, datagrams: Buffer[]): Promise<void> {
  const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  for (const d of datagrams) await new Promise<void>((r, j) => sock.send(d, port, to, (e) => (e ? j(e) : r())));
  sock.close();
}

describe('the native batch reader', () => {
  it('is built on Linux by npm install (a broken build must not pass unnoticed)', () => {
    if (process.platform === 'linux') expect(nativeUdp()).toBeDefined();
  });
});

describe.each(['native', 'dgram'] as const)('UDP reader: %s', (reader) => {
  it('delivers each datagram whole with its length, flags and source network', async () => {
    const l = await listen(reader, '127.0.0.1');
    expect(l.reader).toBe(reader === 'native' ? 'recvmmsg' : 'dgram');
    const got = collect(l);
    const datagrams = [
      Buffer.from('{"a":1}'),
      Buffer.from('{"é":1}'),
      Buffer.alloc(8192, 0x78), // exactly the largest size accepted
      Buffer.alloc(0),
      ...Array.from({ length: 600 }, (_, i) => Buffer.from(`{"i":${i}}`)), // more than one batch
    ];
    await sendFrom('127.0.0.1', '127.0.0.1', l.port, datagrams);
    await waitFor('all delivered', () => got.length === datagrams.length);
    const key = networkKey('127.0.0.1');
    expect(got.slice(0, 4)).toEqual([
      { text: '{"a":1}', length: 7, flags: 0, net: key },
      { text: Buffer.from('{"é":1}').toString('latin1'), length: 8, flags: FLAG_NON_ASCII, net: key },
      { text: 'x'.repeat(64), length: 8192, flags: 0, net: key },
      { text: '', length: 0, flags: 0, net: key },
    ]);
    expect(got.slice(4).map((g) => g.text)).toEqual(datagrams.slice(4).map((d) => d.toString()));
  });

  it('marks a datagram over 8 KiB so the pipeline rejects it as oversized', async () => {
    const l = await listen(reader, '127.0.0.1');
    const got = collect(l);
    await sendFrom('127.0.0.1', '127.0.0.1', l.port, [Buffer.alloc(8193, 0x7b), Buffer.alloc(60_000, 0x7b)]);
    await waitFor('both delivered', () => got.length === 2);
    // The native reader reads at most 8 KiB and flags the rest as cut off; dgram has the length.
    for (const g of got) expect(g.flags & FLAG_TRUNCATED || g.length > 8192).toBeTruthy();
  });

  it('keys IPv6 and IPv4 senders on a dual-stack socket by their network', async () => {
    const l = await listen(reader, '::');
    const got = collect(l);
    await sendFrom('::1', '::1', l.port, [Buffer.from('six')]);
    await sendFrom('127.0.0.1', '127.0.0.1', l.port, [Buffer.from('four')]);
    await waitFor('both delivered', () => got.length === 2);
    expect(got.find((g) => g.text === 'six')!.net).toBe(networkKey('::1'));
    // A v4 sender on a dual-stack socket arrives v4-mapped: it counts as its IPv4 network.
    expect(got.find((g) => g.text === 'four')!.net).toBe(networkKey('127.0.0.1'));
  });

  it('refuses a taken port with BEACON_ERR_PORT_IN_USE, and frees its port on close', async () => {
    const l = await listen(reader, '127.0.0.1');
    const err = await listen(reader, '127.0.0.1', l.port).catch((e: unknown) => e);
    expect(isBeaconError(err) && err.code).toBe('BEACON_ERR_PORT_IN_USE');
    expect((err as Error).message).toBe(`cannot listen on UDP 127.0.0.1:${l.port}: address already in use`);
    collect(l);
    await l.close();
    open = open.filter((o) => o !== l);
    const again = await listen(reader, '127.0.0.1', l.port);
    expect(again.port).toBe(l.port);
  });

  it('resolves a host name', async () => {
    const l = await listen(reader, 'localhost');
    expect(l.port).toBeGreaterThan(0);
  });
});
