import { connect } from 'node:net';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { counters, encoder, query, tempDir, waitFor } from '../receiver/helpers.js';
import { metric, startDaemon, type Daemon } from './helpers.js';

const TOKEN_A = 'relay-a-0123456789abcdef';
const TOKEN_B = 'relay-b-fedcba9876543210';

let tmp: ReturnType<typeof tempDir>;
let rx: Daemon | undefined;
beforeEach(() => {
  tmp = tempDir();
  writeFileSync(join(tmp.dir, 'tokens'), `# one per relay\n${TOKEN_A}\n\n${TOKEN_B}\n`);
});
afterEach(async () => {
  if (rx && rx.child.exitCode === null) await rx.stop();
  rx = undefined;
  tmp.cleanup();
});

async function receiver(extra: string[] = []): Promise<{ http: number; metrics: number }> {
  rx = await startDaemon([
    'receive',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--db',
    tmp.db,
    '--flush-ms',
    '50',
    '--metrics-port',
    '0',
    '--http-port',
    '0',
    ...extra,
  ]);
  return { http: rx.listening.httpPort as number, metrics: rx.listening.metricsPort as number };
}

function post(port: number, body: Buffer | string, headers: Record<string, string> = {}, path = '/v1/datagrams', method = 'POST') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ndjson = (ds: Buffer[]) => Buffer.concat(ds.flatMap((d) => [d, Buffer.from('\n')]));

describe('HTTP ingest: the same pipeline as UDP', () => {
  it('stores runs, dedupes copies, counts rejects by reason, answers 202 with counts after the commit', async () => {
    const { http } = await receiver();
    const runs = [encoder(), encoder(), encoder()];
    const ds: Buffer[] = [];
    for (const r of runs) {
      const s = r.start(Date.now() - 1000);
      const e = r.end(Date.now(), 0, 1000);
      ds.push(s, s, e, e);
    }
    const junk = [
      Buffer.from('not json'),
      Buffer.from('{"v":1,"kind":"start"}'),
      Buffer.from(`{"v":1,"pad":"${'x'.repeat(9000)}"}`),
      Buffer.from('{"hello":1}'),
    ];
    const r = await post(http, Buffer.concat([ndjson([...ds, ...junk]), Buffer.from('\r\n\n')]));
    expect(r.status).toBe(202);
    expect(JSON.parse(r.body)).toEqual({
      received: 16,
      accepted: 6,
      duplicates: 6,
      overload_drops: 0,
      rejected: { not_json: 1, schema: 1, oversized: 1, unknown_protocol: 1 },
    });
    // Answered after the commit (to the intake log, docs/receiver.md#the-intake-log): durable, and in
    // the tables reports read once merged, a moment later.
    const rows = await waitFor('the batch merged', () => {
      const r = query<{ run: string; has_start: number; has_end: number }>(tmp.db, 'SELECT run, has_start, has_end FROM runs ORDER BY run');
      return r.length === 3 && r.every((x) => x.has_end === 1) && r;
    });
    expect(rows).toEqual(runs.map((x) => ({ run: x.id.run, has_start: 1, has_end: 1 })).sort((a, b) => (a.run < b.run ? -1 : 1)));
    // Sent again: all duplicates, nothing new.
    const again = await post(http, ndjson(ds));
    expect(JSON.parse(again.body)).toMatchObject({ received: 12, accepted: 0, duplicates: 12 });
    await rx!.stop();
    expect(counters(tmp.db)).toMatchObject({
      received: 28,
      stored: 6,
      'rejected.not_json': 1,
      'rejected.schema': 1,
      'rejected.oversized': 1,
    });
  });

  it('answers nothing useful anywhere else: bare 404/405, no banner', async () => {
    const { http } = await receiver();
    const get = await post(http, '', {}, '/v1/datagrams', 'GET');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    for (const [path, method] of [
      ['/', 'GET'],
      ['/metrics', 'GET'],
      ['/v1/datagramsx', 'POST'],
      ['/v2/datagrams', 'POST'],
    ] as const) {
      const r = await post(http, '', {}, path, method);
      expect(r.status).toBe(404);
      expect(r.body).toBe('');
      expect(r.headers.server).toBeUndefined();
      expect(r.headers['x-powered-by']).toBeUndefined();
      expect(r.headers.date).toBeUndefined();
    }
  });

  it('never logs or stores the client address', async () => {
    const { http } = await receiver(['--log-level', 'debug']);
    await post(http, 'garbage\n');
    await post(http, ndjson([encoder().start(Date.now())]));
    await rx!.stop();
    const after = rx!.lines.filter((l) => l.msg !== 'listening');
    expect(JSON.stringify(after)).not.toContain('127.0.0.1');
  });
});

describe('HTTP ingest tokens (--ingest-token-file, one per relay)', () => {
  it('a missing or wrong token is refused (401) and counted; each listed token works', async () => {
    const { http, metrics } = await receiver(['--ingest-token-file', join(tmp.dir, 'tokens')]);
    const body = ndjson([encoder().start(Date.now())]);
    expect((await post(http, body)).status).toBe(401);
    expect((await post(http, body, { authorization: `Bearer ${TOKEN_A}x` })).status).toBe(401);
    expect((await post(http, body, { authorization: `Bearer ${TOKEN_A.slice(0, -1)}` })).status).toBe(401);
    expect((await post(http, body, { authorization: `Basic ${TOKEN_A}` })).status).toBe(401);
    const refused = await post(http, body, { authorization: 'Bearer ' });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    // Nothing from a refused request reached the pipeline.
    expect(counters(tmp.db).received ?? 0).toBe(0);
    expect((await post(http, body, { authorization: `Bearer ${TOKEN_A}` })).status).toBe(202);
    expect((await post(http, ndjson([encoder().start(Date.now())]), { authorization: `bearer ${TOKEN_B}` })).status).toBe(202);
    expect(await metric(metrics, 'beacon_receiver_http_requests_total{outcome="unauthorized"}')).toBe(5);
    expect(await metric(metrics, 'beacon_receiver_http_requests_total{outcome="accepted"}')).toBe(2);
    await waitFor('both merged', () => query<{ n: number }>(tmp.db, 'SELECT count(*) AS n FROM runs')[0]!.n === 2);
  });

  it('an unreadable or empty token file is a one-line usage error before anything starts', async () => {
    const { runCli } = await import('../receiver/helpers.js');
    const missing = await runCli([
      'receive',
      '--port',
      '0',
      '--db',
      tmp.db,
      '--http-port',
      '0',
      '--ingest-token-file',
      join(tmp.dir, 'nope'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --ingest-token-file .*nope: ENOENT \[BEACON_ERR_USAGE\]\n$/);
    writeFileSync(join(tmp.dir, 'empty'), '# nothing\n');
    const empty = await runCli([
      'receive',
      '--port',
      '0',
      '--db',
      tmp.db,
      '--http-port',
      '0',
      '--ingest-token-file',
      join(tmp.dir, 'empty'),
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('holds no token');
  });
});

describe('HTTP ingest body limit', () => {
  it('a declared Content-Length over the limit is refused at once, before a byte of body is sent', async () => {
    const { http, metrics } = await receiver(['--http-max-body', '65536']);
    const sock = connect(http, '127.0.0.1');
    let answer = '';
    sock.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write('POST /v1/datagrams HTTP/1.1\r\nhost: x\r\ncontent-length: 50000000\r\n\r\n');
    await closed; // the server hung up although the body never came
    expect(answer).toMatch(/^HTTP\/1.1 413 /);
    expect(await metric(metrics, 'beacon_receiver_http_requests_total{outcome="too_large"}')).toBe(1);
  });

  it('a client that sends its whole too-large body before it reads still gets the 413, not a reset', async () => {
    const { http } = await receiver(['--http-max-body', '65536']);
    const sock = connect(http, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const body = Buffer.alloc(2 * 1024 * 1024, 0x20);
    sock.write(`POST /v1/datagrams HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`);
    sock.write(body);
    sock.pause();
    // A relay busy writing its batch reads the answer only afterwards: by then the server has
    // answered and closed; what it must not have done is reset the connection.
    await new Promise((r) => setTimeout(r, 500));
    let answer = '';
    const gone = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('data', (d: Buffer) => (answer += d.toString()));
    sock.resume();
    await gone;
    expect(answer).toMatch(/^HTTP\/1.1 413 /);
  });

  it('a streamed (chunked) body is cut off once past the limit, without reading the rest', async () => {
    const { http, metrics } = await receiver(['--http-max-body', '65536']);
    const sock = connect(http, '127.0.0.1');
    let answer = '';
    sock.on('data', (d: Buffer) => (answer += d.toString()));
    sock.on('error', () => {});
    let closed = false;
    const gone = new Promise<void>((r) => sock.once('close', () => ((closed = true), r())));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('POST /v1/datagrams HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
    const line = Buffer.from(`${'{"v":1}'.padEnd(1023, ' ')}\n`);
    const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.concat(Array(64).fill(line)), Buffer.from('\r\n')]);
    const total = 256 * 1024 * 1024;
    let written = 0;
    while (!closed && written < total) {
      if (!sock.write(chunk)) await Promise.race([new Promise((r) => sock.once('drain', r)), gone]);
      written += chunk.length;
    }
    await gone;
    expect(answer).toMatch(/^HTTP\/1.1 413 /);
    // The sender was stopped far short of its 256 MiB; what it managed is socket buffers, not a read body.
    expect(written).toBeLessThan(32 * 1024 * 1024);
    expect(await metric(metrics, 'beacon_receiver_http_requests_total{outcome="too_large"}')).toBe(1);
    expect(counters(tmp.db).received ?? 0).toBe(0);
  });
});
