// `beacon relay` behind a site's outbound proxy, with real parts: a real receiver (HTTP ingest,
// SQLite), a real TLS endpoint in front of it (a self-signed certificate made by openssl, trusted
// by the relay through NODE_EXTRA_CA_CERTS), and a real HTTP proxy (CONNECT for https://, absolute
// form for http://) that alone knows where the collector's name points: the relay cannot resolve
// `collector.test` itself, so a run that arrives went through the proxy.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, counters, encoder, query, send, tempDir, waitFor } from '../receiver/helpers.js';
import { freePort, metric, receiverArgs, relayArgs, startDaemon, type Daemon } from './helpers.js';

const TOKEN = 'relay-token-0123456789abcdef';
const PROXY_USER = 'hpc-user';
const PROXY_PASSWORD = 's3cret-proxy-pw';
let tmp: ReturnType<typeof tempDir>;
const daemons: Daemon[] = [];
const servers: Server[] = [];
const sockets = new Set<Socket>();

beforeEach(() => {
  tmp = tempDir();
  writeFileSync(join(tmp.dir, 'tokens'), `${TOKEN}\n`);
  writeFileSync(join(tmp.dir, 'relay-token'), `${TOKEN}\n`);
});
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.child.exitCode === null && d.child.signalCode === null) await d.stop('SIGKILL');
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  tmp.cleanup();
});

async function receiver(): Promise<{ httpPort: number }> {
  const httpPort = await freePort();
  daemons.push(await startDaemon(receiverArgs(tmp.db, httpPort, join(tmp.dir, 'tokens'))));
  return { httpPort };
}

/** TLS on a port of its own, passing the bytes to the receiver's HTTP ingest: the site's reverse proxy. */
async function tlsFront(httpPort: number): Promise<{ port: number; ca: string }> {
  const key = join(tmp.dir, 'key.pem');
  const ca = join(tmp.dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      ca,
      '-days',
      '1',
      '-subj',
      '/CN=collector.test',
      '-addext',
      'subjectAltName=DNS:collector.test',
    ],
    { stdio: 'ignore' },
  );
  const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(ca) }, (tls) => {
    const up = tcpConnect(httpPort, '127.0.0.1');
    tls.pipe(up).pipe(tls);
    tls.on('error', () => up.destroy());
    up.on('error', () => tls.destroy());
  });
  servers.push(server as unknown as Server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, ca };
}

interface Proxy {
  port: number;
  /** What the proxy was asked for: `CONNECT host:port` or `POST http://…`, with the credentials it got. */
  seen: Array<{ what: string; auth: string | undefined }>;
}

/**
 * A forward proxy as sites run them: CONNECT tunnels and absolute-form requests, Basic credentials
 * required when `requireAuth`, and its own name table (`collector.test` → 127.0.0.1).
 */
async function proxy(requireAuth: boolean): Promise<Proxy> {
  const seen: Proxy['seen'] = [];
  const want = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`;
  const denied = (auth: string | undefined) => requireAuth && auth !== want;
  const mapHost = (h: string) => (h === 'collector.test' ? '127.0.0.1' : h);
  const server = createHttpServer((req, res) => {
    const auth = req.headers['proxy-authorization'];
    seen.push({ what: `${req.method} ${req.url}`, auth });
    if (denied(auth)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="site"' }).end();
      return;
    }
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const up = httpRequest(
      { host: mapHost(target.hostname), port: target.port, path: target.pathname, method: req.method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on('connect', (req, client: Socket) => {
    sockets.add(client);
    const auth = req.headers['proxy-authorization'];
    seen.push({ what: `CONNECT ${req.url}`, auth });
    if (denied(auth)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="site"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const up = tcpConnect(Number(port), mapHost(host ?? ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.pipe(client).pipe(up);
    });
    sockets.add(up);
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  server.on('connection', (s: Socket) => sockets.add(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, seen };
}

async function relay(forward: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<Daemon & { port: number; metrics: number }> {
  const d = await startDaemon(
    relayArgs(forward, join(tmp.dir, 'queue'), join(tmp.dir, 'relay-token'), extra),
    // No proxy from the test runner's own environment: each test says what the relay sees.
    { https_proxy: '', HTTPS_PROXY: '', http_proxy: '', HTTP_PROXY: '', all_proxy: '', ALL_PROXY: '', no_proxy: '', NO_PROXY: '', ...env },
  );
  daemons.push(d);
  return Object.assign(d, { port: d.listening.port as number, metrics: d.listening.metricsPort as number });
}

/** `n` runs as an emitter sends them: start twice, end twice. */
async function sendRuns(port: number, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = encoder();
    const s = e.start(Date.now() - 2000);
    const end = e.end(Date.now(), 0, 2000);
    await send(port, [s, s, end, end]);
    ids.push(e.id.run);
  }
  return ids;
}

function wholeRuns(): string[] {
  try {
    return query<{ run: string }>(tmp.db, 'SELECT run FROM runs WHERE has_start = 1 AND has_end = 1').map((r) => r.run);
  } catch {
    return [];
  }
}

const everything = (d: Daemon) => JSON.stringify(d.lines) + d.stderr();

describe('beacon relay through an outbound proxy', () => {
  it('https:// upstream through $https_proxy with credentials: a CONNECT tunnel, runs stored whole, the password never logged', async () => {
    const { httpPort } = await receiver();
    const front = await tlsFront(httpPort);
    const p = await proxy(true);
    const r = await relay(`https://collector.test:${front.port}/v1/datagrams`, {
      https_proxy: `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${p.port}`,
      NODE_EXTRA_CA_CERTS: front.ca,
    });
    expect(r.listening.proxy).toBe(`http://***@127.0.0.1:${p.port}`);
    const ids = await sendRuns(r.port, 20);
    await waitFor('20 whole runs', () => wholeRuns().length === 20 || undefined, 30_000);
    expect(new Set(wholeRuns())).toEqual(new Set(ids));
    // Only tunnels to the collector's name went through the proxy, each with the site credentials;
    // the proxy saw no request line (TLS stays end to end).
    expect(p.seen.length).toBeGreaterThan(0);
    for (const s of p.seen) expect(s).toEqual({ what: `CONNECT collector.test:${front.port}`, auth: expect.stringMatching(/^Basic /) });
    expect(await metric(r.metrics, 'beacon_relay_upstream_up')).toBe(1);
    expect(everything(r)).not.toContain(PROXY_PASSWORD);
    expect(counters(tmp.db).stored).toBe(40);
  }, 60_000);

  it('http:// upstream through --proxy: an absolute-form request; --proxy wins over the environment', async () => {
    const { httpPort } = await receiver();
    const p = await proxy(false);
    const r = await relay(`http://collector.test:${httpPort}/v1/datagrams`, { http_proxy: 'http://127.0.0.1:9' }, [
      '--proxy',
      `http://127.0.0.1:${p.port}`,
    ]);
    expect(r.listening.proxy).toBe(`http://127.0.0.1:${p.port}`);
    const ids = await sendRuns(r.port, 10);
    await waitFor('10 whole runs', () => wholeRuns().length === 10 || undefined, 30_000);
    expect(new Set(wholeRuns())).toEqual(new Set(ids));
    expect(p.seen.every((s) => s.what === `POST http://collector.test:${httpPort}/v1/datagrams`)).toBe(true);
  }, 60_000);

  it('$no_proxy exempts the collector, and --proxy none ignores the environment', async () => {
    const { httpPort } = await receiver();
    // A proxy that nothing listens on: going through it would fail.
    const deadProxy = `http://127.0.0.1:${await freePort()}`;
    const a = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`, { http_proxy: deadProxy, no_proxy: 'example.org,127.0.0.1' });
    expect(a.listening.proxy).toBe('none');
    const first = await sendRuns(a.port, 5);
    await waitFor('5 whole runs', () => wholeRuns().length === 5 || undefined, 30_000);
    await a.stop();
    const b = await relay(`http://127.0.0.1:${httpPort}/v1/datagrams`, { HTTP_PROXY: deadProxy }, ['--proxy', 'none']);
    expect(b.listening.proxy).toBe('none');
    const second = await sendRuns(b.port, 5);
    await waitFor('10 whole runs', () => wholeRuns().length === 10 || undefined, 30_000);
    expect(new Set(wholeRuns())).toEqual(new Set([...first, ...second]));
  }, 60_000);

  it('a proxy that refuses the credentials: the relay says why, keeps every datagram on disk, and delivers once they are fixed', async () => {
    const { httpPort } = await receiver();
    const front = await tlsFront(httpPort);
    const p = await proxy(true);
    const forward = `https://collector.test:${front.port}/v1/datagrams`;
    const wrong = await relay(forward, { HTTPS_PROXY: `http://${PROXY_USER}:wrong@127.0.0.1:${p.port}`, NODE_EXTRA_CA_CERTS: front.ca });
    const ids = await sendRuns(wrong.port, 8);
    await waitFor('queued on disk', async () => (await metric(wrong.metrics, 'beacon_relay_queue_datagrams')) === 16 || undefined);
    const why = wrong.lines.find((l) => l.msg === 'upstream unreachable; queueing on disk')?.why;
    expect(String(why)).toMatch(/proxy wants credentials/);
    expect(wholeRuns()).toHaveLength(0);
    expect(await wrong.stop()).toBe(0);
    expect(everything(wrong)).not.toContain('wrong@');

    const right = await relay(forward, {
      HTTPS_PROXY: `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${p.port}`,
      NODE_EXTRA_CA_CERTS: front.ca,
    });
    expect(right.listening.queued).toBe(16);
    await waitFor('8 whole runs', () => wholeRuns().length === 8 || undefined, 30_000);
    expect(new Set(wholeRuns())).toEqual(new Set(ids));
  }, 60_000);

  it('a --proxy that cannot work is a one-line usage error before anything is received', () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [
        ['--forward', 'udp://127.0.0.1:50077', '--proxy', 'http://127.0.0.1:3128'],
        {},
        /--proxy applies to an http\(s\):\/\/ --forward only/,
      ],
      [['--forward', 'https://c.example/v1/datagrams', '--proxy', 'socks5://u:pw@127.0.0.1:1080'], {}, /socks5 proxies are not supported/],
      [['--forward', 'https://c.example/v1/datagrams', '--proxy', 'not a url'], {}, /--proxy must be an http:\/\/ or https:\/\/ URL/],
      [
        ['--forward', 'https://c.example/v1/datagrams'],
        { https_proxy: 'socks5://u:pw@127.0.0.1:1080' },
        /the proxy in the environment .*socks5/,
      ],
    ];
    for (const [args, env, message] of cases) {
      const r = spawnSync(process.execPath, [CLI, 'relay', '--port', '0', '--queue-dir', join(tmp.dir, 'q'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, https_proxy: '', HTTPS_PROXY: '', ...env },
      });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain(':pw@');
    }
  });
});
