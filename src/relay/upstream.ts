import { createSocket, type Socket } from 'node:dgram';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import type { ForwardTarget } from './options.js';

/**
 * What happened to one batch sent upstream:
 * - `ok`: upstream has it (HTTP 2xx after its commit, or UDP handed to the kernel).
 * - `retry`: keep it and try again later (unreachable, 5xx, busy, a refused token, a wrong URL:
 *   all things an operator or time fixes; dropping would lose runs).
 * - `split`: too large for upstream (413): send it again in halves.
 */
export type SendOutcome = { result: 'ok' } | { result: 'retry'; why: string; status?: number } | { result: 'split'; why: string };

/** Each upstream kind is a small factory returning this same interface. */
export interface Upstream {
  send(body: Buffer, timeoutMs: number): Promise<SendOutcome>;
  close(): void;
}

export function createUpstream(target: ForwardTarget, token: string | undefined, proxy?: URL): Upstream {
  return target.kind === 'udp' ? udpUpstream(target.host, target.port) : httpUpstream(target.url, token, proxy);
}

/**
 * POST the batch as it is. The request carries nothing but the body, its length and type, and the
 * token: no address of any emitter, nothing about the site (not even a User-Agent).
 */
function httpUpstream(url: URL, token: string | undefined, proxy: URL | undefined): Upstream {
  const https = url.protocol === 'https:';
  const pool = { keepAlive: true, maxSockets: 2 };
  // Through a proxy, an https:// upstream is a CONNECT tunnel (the proxy sees only the host name,
  // TLS stays end to end); an http:// one is a plain request in absolute form.
  const agent = proxy
    ? https
      ? new HttpsProxyAgent(proxy, pool)
      : new HttpProxyAgent(proxy, pool)
    : https
      ? new HttpsAgent(pool)
      : new HttpAgent(pool);
  const request = https ? httpsRequest : httpRequest;
  const via = proxy ? ` (via proxy ${proxy.host})` : '';
  return {
    send(body, timeoutMs) {
      return new Promise<SendOutcome>((resolve) => {
        const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', 'content-length': String(body.length) };
        if (token) headers.authorization = `Bearer ${token}`;
        let done = false;
        const settle = (o: SendOutcome): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(o);
        };
        const req = request(url, { method: 'POST', headers, agent }, (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
          res.on('end', () => settle(outcomeOf(status, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', (e) => settle({ result: 'retry', why: e.message }));
        });
        const timer = setTimeout(() => {
          req.destroy(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        // Through a proxy, a failure to connect or resolve is the proxy's (the collector's name is its business).
        req.on('error', (e: NodeJS.ErrnoException) => settle({ result: 'retry', why: `${e.code ?? e.message}${via}` }));
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

function outcomeOf(status: number, text: string): SendOutcome {
  if (status >= 200 && status < 300) {
    // Overload drops: the collector's queue was full for some of them. Send the batch again later:
    // what it did store is deduplicated there.
    try {
      const j = JSON.parse(text) as { overload_drops?: number };
      if (typeof j.overload_drops === 'number' && j.overload_drops > 0) return { result: 'retry', why: 'collector overloaded', status };
    } catch {
      // A 2xx without our JSON (a proxy's own page?) still means it was taken.
    }
    return { result: 'ok' };
  }
  if (status === 413) return { result: 'split', why: 'body too large for the collector' };
  const why =
    status === 401 || status === 403
      ? 'the collector refused the token (check --token-file)'
      : status === 407
        ? 'the proxy wants credentials (put them in --proxy or $https_proxy: http://user:password@proxy:port)'
        : status === 404 || status === 405
          ? 'no HTTP ingest at that URL (check --forward)'
          : `HTTP ${status}`;
  return { result: 'retry', why, status };
}

/** One datagram per line, as an emitter would send it; no acknowledgement exists, so a send the kernel took is "ok". */
function udpUpstream(host: string, port: number): Upstream {
  const socket: Socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  socket.on('error', () => {
    // Asynchronous ICMP errors: the next send reports its own failure.
  });
  return {
    async send(body) {
      let start = 0;
      try {
        while (start < body.length) {
          let end = body.indexOf(0x0a, start);
          if (end < 0) end = body.length;
          if (end > start) {
            const line = body.subarray(start, end);
            await new Promise<void>((resolve, reject) => socket.send(line, port, host, (e) => (e ? reject(e) : resolve())));
          }
          start = end + 1;
        }
      } catch (e) {
        // Some lines may have gone out: sending the batch again is harmless (the collector dedupes).
        return { result: 'retry', why: (e as NodeJS.ErrnoException).code ?? String(e) };
      }
      return { result: 'ok' };
    },
    close: () => socket.close(),
  };
}
