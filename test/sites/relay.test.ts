import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { counters, encoder, query, send, tempDir, waitFor } from '../receiver/helpers.js';
import { freePort, metric, receiverArgs, relayArgs, startDaemon, type Daemon } from './helpers.js';

const TOKEN = 'relay-token-0123456789abcdef';
let tmp: ReturnType<typeof tempDir>;
const daemons: Daemon[] = [];
beforeEach(() => {
  tmp = tempDir();
  writeFileSync(join(tmp.dir, 'tokens'), `${TOKEN}\n`);
  writeFileSync(join(tmp.dir, 'relay-token'), `# this relay's token\n${TOKEN}\n`);
});
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.child.exitCode === null && d.child.signalCode === null) await d.stop('SIGKILL');
  tmp.cleanup();
});

async function receiver(httpPort: number): Promise<Daemon> {
  const d = await startDaemon(receiverArgs(tmp.db, httpPort, join(tmp.dir, 'tokens')));
  daemons.push(d);
  return d;
}

async function relay(forward: string, extra: string[] = []): Promise<Daemon & { port: number; metrics: number }> {
  const d = await startDaemon(relayArgs(forward, join(tmp.dir, 'queue'), join(tmp.dir, 'relay-token'), extra));
  daemons.push(d);
  return Object.assign(d, { port: d.listening.port as number, metrics: d.listening.metricsPort as number });
}

/** `n` runs as an emitter sends them: start twice, end twice. */
function runs(n: number) {
  return Array.from({ length: n }, () => {
    const e = encoder();
    const s = e.start(Date.now() - 2000);
    const end = e.end(Date.now(), 0, 2000);
    return { run: e.id.run, datagrams: [s, s, end, end] };
  });
}

function wholeRuns(): Array<{ run: string; has_start: number; has_end: number }> {
  return existsSync(tmp.db) ? query(tmp.db, 'SELECT run, has_start, has_end FROM runs') : [];
}

function queued(): number {
  const dir = join(tmp.dir, 'queue');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson'))
    .reduce((n, f) => n + Number(/-(\d+)\.ndjson$/.exec(f)![1]), 0);
}

describe('beacon relay → a real receiver over HTTP, with a real SQLite store', () => {
  it('upstream stopped and restarted mid-stream: every run stored whole, exactly once', async () => {
    const httpPort = await freePort();
    let rx = await receiver(httpPort);
    const r = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`);
    const all = runs(240);
    // A steady stream over ~3 s; the receiver is stopped after a third and restarted after two thirds.
    let i = 0;
    const sending = (async () => {
      for (; i < all.length; i++) {
        await send(r.port, all[i]!.datagrams);
        await new Promise((res) => setTimeout(res, 12));
      }
    })();
    await waitFor('a third sent', () => i >= 80);
    expect(await rx.stop()).toBe(0);
    await waitFor('the relay to queue on disk', async () => (await metric(r.metrics, 'beacon_relay_datagrams_queued_total')) > 0);
    await waitFor('two thirds sent', () => i >= 160);
    rx = await receiver(httpPort);
    await sending;
    await waitFor('240 whole runs', () => wholeRuns().filter((x) => x.has_start && x.has_end).length === 240, 60_000);
    await new Promise((res) => setTimeout(res, 500));
    const rows = wholeRuns();
    expect(rows).toHaveLength(240);
    expect(new Set(rows.map((x) => x.run))).toEqual(new Set(all.map((x) => x.run)));
    expect(await metric(r.metrics, 'beacon_relay_queue_drops_total')).toBe(0);
    expect(await metric(r.metrics, 'beacon_relay_datagrams_duplicate_total')).toBe(480);
    expect(await metric(r.metrics, 'beacon_relay_queue_datagrams')).toBe(0);
    expect(await metric(r.metrics, 'beacon_relay_upstream_up')).toBe(1);
    await rx.stop();
    // Each start and each end stored once; a batch sent again after a lost answer shows up only as duplicates.
    expect(counters(tmp.db).stored).toBe(480);
  }, 120_000);

  it('SIGTERM with upstream down queues everything accepted; the next start drains it', async () => {
    const httpPort = await freePort();
    const r = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`);
    const all = runs(50);
    for (const x of all) await send(r.port, x.datagrams);
    await waitFor('all read', async () => (await metric(r.metrics, 'beacon_relay_datagrams_received_total')) === 200);
    expect(await r.stop('SIGTERM')).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ msg: 'stopped', received: 200, duplicates: 100, queueDatagrams: 100 });
    expect(queued()).toBe(100);
    const rx = await receiver(httpPort);
    const again = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`);
    expect(again.listening.queued).toBe(100);
    await waitFor('50 whole runs', () => wholeRuns().filter((x) => x.has_start && x.has_end).length === 50, 30_000);
    await waitFor('queue empty', () => queued() === 0);
    expect(await metric(again.metrics, 'beacon_relay_datagrams_forwarded_total')).toBe(100);
    await rx.stop();
    expect(counters(tmp.db).stored).toBe(100);
  }, 60_000);

  it('SIGTERM with upstream up forwards what it holds before it exits', async () => {
    const httpPort = await freePort();
    const rx = await receiver(httpPort);
    const r = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`, ['--batch-ms', '60000']);
    const all = runs(20);
    for (const x of all) await send(r.port, x.datagrams);
    await waitFor('all read', async () => (await metric(r.metrics, 'beacon_relay_datagrams_received_total')) === 80);
    expect(await r.stop('SIGTERM')).toBe(0);
    expect(queued()).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ msg: 'stopped', forwarded: 40 });
    expect(wholeRuns().filter((x) => x.has_start && x.has_end)).toHaveLength(20);
    await rx.stop();
  });

  it('beyond the queue bound, new datagrams are dropped and counted; what fit is delivered', async () => {
    const httpPort = await freePort();
    const r = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`, ['--queue-max-datagrams', '30']);
    const all = runs(25); // 50 unique datagrams
    for (const x of all) await send(r.port, x.datagrams);
    await waitFor('drops counted', async () => (await metric(r.metrics, 'beacon_relay_queue_drops_total')) === 20);
    expect(await metric(r.metrics, 'beacon_relay_queue_datagrams')).toBe(30);
    const rx = await receiver(httpPort);
    await waitFor('queue drained', async () => (await metric(r.metrics, 'beacon_relay_queue_datagrams')) === 0, 60_000);
    await waitFor('30 stored', () => counters(tmp.db).stored === 30 || undefined, 10_000).catch(() => undefined);
    await rx.stop();
    expect(counters(tmp.db).stored).toBe(30);
  }, 90_000);

  it('a relay with a wrong token is refused and counted upstream, and keeps its queue', async () => {
    const httpPort = await freePort();
    const rx = await startDaemon(receiverArgs(tmp.db, httpPort, join(tmp.dir, 'tokens'), ['--metrics-port', '0']));
    daemons.push(rx);
    writeFileSync(join(tmp.dir, 'relay-token'), 'not-the-right-token-000000\n');
    const r = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`);
    for (const x of runs(5)) await send(r.port, x.datagrams);
    await waitFor('queued', async () => (await metric(r.metrics, 'beacon_relay_queue_datagrams')) === 10);
    expect(
      await metric(rx.listening.metricsPort as number, 'beacon_receiver_http_requests_total{outcome="unauthorized"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(r.lines.some((l) => l.msg === 'upstream unreachable; queueing on disk' && String(l.why).includes('refused the token'))).toBe(
      true,
    );
    expect(wholeRuns()).toHaveLength(0);
  });
});

describe('beacon relay: what it forwards and what it refuses', () => {
  it('adds nothing: the body is the datagrams, the headers only length, type and token', async () => {
    const got: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(202).end('{}');
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    try {
      const r = await relay(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1/datagrams`);
      const one = runs(1)[0]!;
      const parsl = Buffer.from('{"uuid": "11111111-2222-4333-8444-555555555555",\n "test": false, "parsl_v": "2024.1.1"}');
      await send(r.port, [...one.datagrams, parsl]);
      await waitFor('a batch', () => got.length >= 1 || undefined);
      await r.stop();
      const body = Buffer.concat(got.map((g) => g.body)).toString('latin1');
      expect(body).toBe(
        `${one.datagrams[0]!.toString('latin1')}\n${one.datagrams[2]!.toString('latin1')}\n${parsl.toString('latin1').replace('\n', ' ')}\n`,
      );
      expect(Object.keys(got[0]!.headers).sort()).toEqual(['authorization', 'connection', 'content-length', 'content-type', 'host']);
      expect(got[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(JSON.stringify(got)).not.toContain('127.0.0.1"');
    } finally {
      server.close();
    }
  });

  it('a batch upstream refuses as too large (413) is sent again in halves; nothing lost, nothing twice', async () => {
    const lines: string[] = [];
    let refused = 0;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length > 2000) {
          refused++;
          res.writeHead(413).end();
          return;
        }
        lines.push(
          ...body
            .toString('latin1')
            .split('\n')
            .filter((l) => l),
        );
        res.writeHead(202).end('{"overload_drops":0}');
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    try {
      const r = await relay(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1/datagrams`, ['--batch-ms', '1000']);
      const all = runs(20);
      for (const x of all) await send(r.port, x.datagrams);
      await waitFor('40 forwarded', async () => (await metric(r.metrics, 'beacon_relay_datagrams_forwarded_total')) === 40 || undefined);
      expect(refused).toBeGreaterThan(0);
      expect(lines).toHaveLength(40);
      expect(new Set(lines).size).toBe(40);
      expect(await metric(r.metrics, 'beacon_relay_queue_drops_total')).toBe(0);
    } finally {
      server.close();
    }
  });

  it('rate-limits per source network like the receiver, and refuses junk before queueing it', async () => {
    const r = await relay('udp://127.0.0.1:9', ['--rate-limit', '5']);
    const ds = runs(30).map((x) => x.datagrams[0]!);
    await send(r.port, ds);
    await send(r.port, [Buffer.from('nope')]);
    await waitFor('all read', async () => (await metric(r.metrics, 'beacon_relay_datagrams_received_total')) === 31);
    const limited = await metric(r.metrics, 'beacon_relay_datagrams_rejected_total{reason="rate_limited"}');
    expect(limited).toBeGreaterThanOrEqual(18);
    expect(limited).toBeLessThanOrEqual(21);
  });

  it("udp:// upstream: forwards to a receiver's UDP port", async () => {
    const rx = await startDaemon(['receive', '--host', '127.0.0.1', '--port', '0', '--db', tmp.db, '--flush-ms', '50']);
    daemons.push(rx);
    const r = await relay(`udp://127.0.0.1:${rx.listening.port as number}`);
    for (const x of runs(10)) await send(r.port, x.datagrams);
    await waitFor('10 whole runs', () => wholeRuns().filter((x) => x.has_start && x.has_end).length === 10 || undefined);
    await rx.stop();
    // The relay forwarded one copy of each: the receiver saw no duplicate at all.
    expect(counters(tmp.db)).toMatchObject({ received: 20, stored: 20 });
    expect(counters(tmp.db).duplicates ?? 0).toBe(0);
  });

  it('bad options are one-line usage errors', async () => {
    const { runCli } = await import('../receiver/helpers.js');
    for (const [args, text] of [
      [['relay'], "required option '--forward <url>'"],
      [['relay', '--forward', 'ftp://x/v1/datagrams'], 'must be an https://, http:// or udp:// URL'],
      [['relay', '--forward', 'https://collector.example.org/'], 'must end in /v1/datagrams'],
      [['relay', '--forward', 'udp://'], 'must be udp://host:port'],
      [['relay', '--forward', 'https://u:p@c.example.org/v1/datagrams'], 'must not carry credentials'],
    ] as const) {
      const res = await runCli([...args]);
      expect(res.code, args.join(' ')).toBe(args.length === 1 ? 1 : 2);
      expect(res.stderr).toContain(text);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
    }
    const q = join(tmp.dir, 'a-file');
    writeFileSync(q, '');
    const res = await runCli(['relay', '--forward', 'udp://127.0.0.1:9', '--port', '0', '--queue-dir', join(q, 'queue')]);
    expect(res.stderr).toMatch(/cannot use the queue directory .*ENOTDIR \[BEACON_ERR_RELAY_QUEUE\]/);
    expect(readFileSync(q, 'utf8')).toBe('');
  });
});
