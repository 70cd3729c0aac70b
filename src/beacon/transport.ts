import { createSocket, type Socket } from 'node:dgram';
import { formatCollector } from '../protocol/index.js';
import type { CollectorAddress } from '../protocol/index.js';
import { resolveHost, type ResolvedAddress } from './resolve-host.js';

/** The tiny interface every transport offers (after hot-shots): send, flush, close. */
export interface Transport {
  /** Send `copies` identical copies; never throws, never blocks. Dropped when no address is known yet. */
  send(datagram: Buffer): void;
  /** Wait until queued datagrams left the socket, at most `maxMs` (the CLI wrapper; the library never waits). */
  flush(maxMs: number): Promise<void>;
  close(): void;
}

// An address is already an IP here: answering synchronously makes bind() and connect() complete
// inside the call, so even a datagram sent from process.on('exit') goes out (Node's default
// lookup defers to the next tick, which never comes at exit).
const syncLookup = (address: string, family: unknown, cb: (e: null, a: string, f: number) => void): void =>
  cb(null, address, address.includes(':') ? 6 : 4);

function connectedSocket(address: string, family: 4 | 6, port: number): Socket {
  const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: syncLookup as never });
  // "Port unreachable" from a collector that is not listening surfaces as an 'error' event; an
  // unhandled one would crash the host, and there is nothing to do about it anyway.
  socket.on('error', () => {});
  socket.connect(port, address);
  socket.unref(); // telemetry must never keep its host process alive
  return socket;
}

export interface HostnameOptions {
  /** Address from an earlier run: used at once, while the name is resolved again in the background. */
  cached?: ResolvedAddress;
  /** Told about each fresh resolution (to refresh the cache). */
  onResolved?: (resolved: ResolvedAddress) => void;
}

export function createUdpTransport(collector: CollectorAddress, copies: number, hostname: HostnameOptions = {}): Transport {
  let socket: Socket | undefined;
  let closed = false;
  let pending = 0;
  let waiters: Array<() => void> = [];
  const settle = () => {
    if (pending === 0 && socket) for (const w of waiters.splice(0)) w();
  };
  const onSent = () => {
    pending--;
    settle();
  };
  const sendNow = (datagram: Buffer) => {
    for (let i = 0; i < copies; i++) {
      pending++;
      socket!.send(datagram, onSent);
    }
  };
  // A hostname: hold at most the start datagram until the address is known; if resolution fails
  // or never answers, nothing is sent and nothing waits.
  let queued: Buffer[] = [];
  if (collector.family !== 0) {
    socket = connectedSocket(collector.host, collector.family, collector.port);
  } else {
    if (hostname.cached) socket = connectedSocket(hostname.cached.address, hostname.cached.family, collector.port);
    void resolveHost(collector.host).then((resolved) => {
      if (!resolved) return;
      try {
        hostname.onResolved?.(resolved);
        if (socket || closed) return; // this run keeps the cached address; the next one uses the new entry
        socket = connectedSocket(resolved.address, resolved.family, collector.port);
        for (const d of queued.splice(0)) sendNow(d);
        settle();
      } catch {
        // Out of sockets or similar: telemetry is best-effort, the host must not notice.
      }
    });
  }
  return {
    send(datagram) {
      try {
        if (closed) return;
        if (socket) sendNow(datagram);
        else if (queued.length < 2) queued.push(datagram);
      } catch {
        // dgram can throw synchronously on a closed or broken socket; never into the host.
      }
    },
    flush(maxMs) {
      if ((socket && pending === 0) || closed) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, maxMs);
        timer.unref();
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close() {
      if (closed) return;
      closed = true;
      queued = [];
      waiters.splice(0).forEach((w) => w());
      try {
        socket?.close();
      } catch {
        // Already closed.
      }
    },
  };
}

/** BEACON_DEBUG=1: print each datagram to stderr instead of sending it. */
export function createDebugTransport(collector: CollectorAddress, copies: number): Transport {
  const where = formatCollector(collector);
  return {
    send(datagram) {
      try {
        process.stderr.write(`usage-beacon debug: would send ${copies}× ${datagram.length} bytes to ${where}: ${datagram.toString('utf8')}\n`);
      } catch {
        // stderr closed: a debug aid must not break the host.
      }
    },
    flush: () => Promise.resolve(),
    close() {},
  };
}
