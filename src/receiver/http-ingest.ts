import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { BeaconError } from '../errors.js';
import { REJECT_REASONS } from '../protocol/reject-reasons.js';
import type { DatagramSink } from './listen.js';
import { FLAG_NON_ASCII } from '../protocol/decode.js';
import type { Stats } from './observe/stats.js';

/**
 * HTTP ingest: `POST /v1/datagrams`, a body of newline-delimited datagrams (the exact bytes an
 * emitter sends), for relays on networks where UDP cannot get out (docs/receiver.md). Each line
 * goes through the same pipeline as a UDP datagram (size, decode, validate, dedupe, counters), and
 * the answer, 202 with counts, is sent once the commit those datagrams went into was made, so a
 * relay that got a 202 may forget them. Nothing else answers: any other path is a bare 404, any
 * other method a bare 405. TLS belongs to the reverse proxy in front. No address of the client is
 * read, stored or logged.
 */
export const INGEST_PATH = '/v1/datagrams';
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** How long a refused request's socket stays half-closed (unread, paused) before it is destroyed. */
const LINGER_MS = 2000;

export type HttpOutcome = 'accepted' | 'unauthorized' | 'too_large' | 'busy' | 'bad_request' | 'not_found' | 'method_not_allowed';
const OUTCOMES: readonly HttpOutcome[] = [
  'accepted',
  'unauthorized',
  'too_large',
  'busy',
  'bad_request',
  'not_found',
  'method_not_allowed',
];

export interface HttpIngestOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** SHA-256 digests of the accepted bearer tokens; undefined = no token needed. */
  tokens?: Buffer[];
}

export interface HttpIngestDeps {
  /** The receiver's pipeline (the HTTP one has no per-source rate limit: see docs/receiver.md). */
  sink: DatagramSink;
  stats: Stats;
  hasRoom: () => boolean;
  /** Resolves once everything accepted so far was written to the store. */
  commit: () => Promise<void>;
  log: Logger;
  registry?: Registry;
}

export interface HttpIngest {
  port: number;
  /** Requests by outcome since start. */
  readonly outcomes: Record<HttpOutcome, number>;
  /** Stops accepting; requests under way get up to `graceMs` to be answered, then are cut (their sender retries). */
  close(graceMs?: number): Promise<void>;
}

const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();

/** `--ingest-token-file`: one token per line; blank lines and `#` comments skipped. */
export function readTokenFile(path: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BeaconError('BEACON_ERR_USAGE', `cannot read --ingest-token-file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const tokens = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (tokens.length === 0) throw new BeaconError('BEACON_ERR_USAGE', `--ingest-token-file ${path} holds no token`);
  const short = tokens.find((t) => t.length < 16 || /\s/.test(t));
  if (short !== undefined)
    throw new BeaconError('BEACON_ERR_USAGE', `--ingest-token-file ${path}: each token must be at least 16 characters without spaces`);
  return tokens.map(sha256);
}

/**
 * Compares digests, so every comparison has the same length, and checks every token without
 * stopping at the first match: the time taken says nothing about which token or how much of it matched.
 */
function authorized(header: string | undefined, tokens: Buffer[]): boolean {
  const m = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
  const presented = sha256(m ? m[1]! : '');
  let ok = 0;
  for (const t of tokens) ok |= timingSafeEqual(presented, t) ? 1 : 0;
  return m !== null && ok === 1;
}

export async function startHttpIngest(o: HttpIngestOptions, d: HttpIngestDeps): Promise<HttpIngest> {
  const outcomes = Object.fromEntries(OUTCOMES.map((k) => [k, 0])) as Record<HttpOutcome, number>;
  if (d.registry) {
    new Counter({
      name: 'beacon_receiver_http_requests_total',
      help: 'HTTP ingest requests, by outcome.',
      labelNames: ['outcome'],
      registers: [d.registry],
      collect() {
        this.reset();
        for (const k of OUTCOMES) this.inc({ outcome: k }, outcomes[k]);
      },
    });
  }
  let lastAuthLog = 0;
  const finish = (res: ServerResponse, outcome: HttpOutcome, status: number, body?: object, headers: Record<string, string> = {}): void => {
    outcomes[outcome]++;
    if (res.headersSent || res.destroyed) return;
    const text = body ? JSON.stringify(body) : '';
    res.writeHead(status, {
      ...headers,
      ...(body ? { 'content-type': 'application/json' } : {}),
      'content-length': String(Buffer.byteLength(text)),
    });
    res.end(text);
  };
  // Refused before the body is read: answer, then close, so the rest of the body is never taken in.
  // Close in two steps: a FIN right after the answer, the socket itself only after LINGER_MS. A
  // socket destroyed with the client's unread bytes in its receive queue answers with a reset, and
  // a reset makes the client's kernel drop our answer before the client reads it: a relay would see
  // "connection reset" instead of the 413 that tells it to split the batch. Node's server destroys
  // the socket as soon as a `connection: close` response ends, so the answer (it has no body) is
  // sent as its headers alone and the response never ends: the socket's close ends it.
  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    outcome: HttpOutcome,
    status: number,
    headers: Record<string, string> = {},
  ): void => {
    req.pause();
    outcomes[outcome]++;
    if (res.headersSent || res.destroyed) return;
    res.shouldKeepAlive = false;
    res.writeHead(status, { ...headers, connection: 'close', 'content-length': '0' });
    res.flushHeaders();
    const socket = req.socket;
    socket.end();
    const linger = setTimeout(() => socket.destroy(), LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const q = req.url?.indexOf('?') ?? -1;
    const path = q >= 0 ? req.url!.slice(0, q) : req.url;
    if (path !== INGEST_PATH) return refuse(req, res, 'not_found', 404);
    if (req.method !== 'POST') return refuse(req, res, 'method_not_allowed', 405, { allow: 'POST' });
    if (o.tokens && !authorized(req.headers.authorization, o.tokens)) {
      const now = Date.now();
      if (now - lastAuthLog > 60_000) {
        lastAuthLog = now;
        d.log.warn({ refused: outcomes.unauthorized + 1 }, 'HTTP ingest refused a request without a valid token');
      }
      return refuse(req, res, 'unauthorized', 401, { 'www-authenticate': 'Bearer' });
    }
    const enc = req.headers['content-encoding'];
    if (enc !== undefined && enc !== 'identity') return refuse(req, res, 'bad_request', 415);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > o.maxBodyBytes) return refuse(req, res, 'too_large', 413);
    if (!d.hasRoom()) return refuse(req, res, 'busy', 503, { 'retry-after': '1' });
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      // A streamed (chunked) body is cut off as soon as it passes the limit.
      if (size > o.maxBodyBytes) {
        over = true;
        chunks.length = 0;
        refuse(req, res, 'too_large', 413);
      } else chunks.push(c);
    });
    req.once('end', () => {
      if (over) return;
      const counts = ingest(Buffer.concat(chunks, size));
      d.commit().then(
        () => finish(res, 'accepted', 202, counts),
        () => finish(res, 'accepted', 202, counts), // kept in memory and retried by the batcher, as for UDP
      );
    });
    req.once('error', () => req.socket.destroy());
  };

  /** Synchronous from first line to last, so the counter differences belong to this request alone. */
  const ingest = (body: Buffer): Record<string, unknown> => {
    const t = d.stats.totals;
    const before = { ...t };
    let start = 0;
    while (start < body.length) {
      let end = body.indexOf(0x0a, start);
      if (end < 0) end = body.length;
      let stop = end;
      if (stop > start && body[stop - 1] === 0x0d) stop--;
      if (stop > start) d.sink(body, start, stop - start, isAscii(body.subarray(start, stop)) ? 0 : FLAG_NON_ASCII, NaN);
      start = end + 1;
    }
    const rejected: Record<string, number> = {};
    let refusedTotal = 0;
    for (const r of REJECT_REASONS) {
      const n = t[`rejected.${r}`] - before[`rejected.${r}`];
      if (n > 0) rejected[r] = n;
      refusedTotal += n;
    }
    const received = t.received - before.received;
    const duplicates = t.duplicates - before.duplicates;
    const overloadDrops = t.overload_drops - before.overload_drops;
    return {
      received,
      accepted: received - refusedTotal - duplicates - overloadDrops,
      duplicates,
      rejected,
      overload_drops: overloadDrops,
    };
  };

  const server: Server = createServer(
    { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000, maxHeaderSize: 8192 },
    (req, res) => {
      res.sendDate = false;
      try {
        handle(req, res);
      } catch (e) {
        // No request may take the daemon down.
        d.log.error({ err: e instanceof Error ? e.message : String(e) }, 'HTTP ingest request failed');
        refuse(req, res, 'bad_request', 400);
      }
    },
  );
  // Malformed HTTP: a bare 400 and close, nothing about what we are.
  server.on('clientError', (_e, socket) => {
    outcomes.bad_request++;
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new BeaconError('BEACON_ERR_PORT_IN_USE', `cannot serve HTTP ingest on ${o.host}:${o.port}: ${e.code ?? e.message}`)),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    outcomes,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
