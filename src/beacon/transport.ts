import type { Socket } from 'node:dgram';
import { dgram } from './builtins.js';
import { formatCollector } from '../protocol/index.js';
import type { CollectorAddress } from '../protocol/index.js';
import { resolveHost, type ResolvedAddress } from './resolve-host.js';

/** The tiny interface every transport offers (after hot-shots): send, flush, close. */
export interface Transport {
  /**
   * Send `copies` identical copies; never throws, never blocks. With a hostname not resolved yet,
   * the start waits in a queue; datagrams beyond it are dropped.
   */
  send(datagram: Buffer): void;
  /**
   * Wait until queued datagrams left the socket, at most `maxMs`, and always settle by then, whatever
   * the network does (the CLI wrapper; the library never waits).
   */
  flush(maxMs: number): Promise<void>;
  close(): void;
}

// An address is already an IP here: answering synchronously makes bind() and connect() complete
// inside the call, so even a datagram sent from process.on('exit') goes out (Node's default
// lookup defers to the next tick, which never comes at exit).
const syncLookup = (address: string, family: unknown, cb: (e: null, a: string, f: number) => void): void =>
  cb(null, address, address.includes(':') ? 6 : 4);

function connectedSocket(address: string, family: 4 | 6, port: number): Socket {
  const socket = dgram().createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: syncLookup });
  // "Port unreachable" from a collector that is not listening surfaces as an 'error' event; an
  // unhandled one would crash the host, and there is nothing to do about it anyway.
  socket.on('error', () => {});
  socket.connect(port, address);
  socket.unref(); // telemetry must never keep its host process alive
  return socket;
}

export interface TransportOptions {
  /** Hostname collector: an address from an earlier run, used at once while the name is resolved again. */
  cached?: ResolvedAddress;
  /** Hostname collector: told about each fresh resolution (to refresh the cache). */
  onResolved?: (resolved: ResolvedAddress) => void;
  /** Track completions so flush() can wait for them (the CLI). The library never waits, so it skips the bookkeeping. */
  track?: boolean;
}

export function createUdpTransport(collector: CollectorAddress, copies: number, options: TransportOptions = {}): Transport {
  let target: ResolvedAddress | undefined = collector.family !== 0 ? { address: collector.host, family: collector.family } : options.cached;
  let socket: Socket | undefined;
  let closed = false;
  let pending = 0;
  let queued: Buffer[] = [];
  const waiters: Array<() => void> = [];
  const settle = () => {
    if (pending === 0 && queued.length === 0) for (const w of waiters.splice(0)) w();
  };
  const onSent = () => {
    pending--;
    settle();
  };
  const write = (datagram: Buffer) => {
    for (let i = 0; i < copies; i++) {
      if (options.track) {
        pending++;
        socket!.send(datagram, onSent);
      } else {
        socket!.send(datagram);
      }
    }
  };
  const connect = () => {
    if (socket || closed || !target) return;
    try {
      socket = connectedSocket(target.address, target.family, collector.port);
      for (const d of queued.splice(0)) write(d);
    } catch {
      // Out of file descriptors or similar: telemetry is best-effort, the host must not notice.
      queued = [];
    }
    settle();
  };
  connect();
  if (collector.family === 0) {
    // A hostname: resolved in the background; if it fails or never answers, nothing is sent and
    // nothing waits. With a cached address this run already uses that, and the answer refreshes the cache.
    void resolveHost(collector.host).then((resolved) => {
      if (!resolved) return;
      try {
        options.onResolved?.(resolved);
      } catch {
        // Caching is an optimisation; failing it must not cost the datagrams.
      }
      if (!target) {
        target = resolved;
        connect();
      }
    });
  }
  return {
    send(datagram) {
      try {
        if (closed) return;
        if (socket) write(datagram);
        else if (queued.length < 2) queued.push(datagram);
      } catch {
        // dgram can throw synchronously on a closed or broken socket; never into the host.
      }
    },
    flush(maxMs) {
      if (closed || (pending === 0 && queued.length === 0)) return Promise.resolve();
      return new Promise((resolve) => {
        // Ref'd, unlike everything else here: a caller that awaits flush() (the CLI wrapper, after
        // its command ended) has nothing else keeping the event loop alive. Unref'd, the loop
        // would empty while a datagram could not go out (no route, DNS never answering), the
        // promise would never settle, and Node would end the wrapper with 13 (unsettled top-level
        // await) instead of the command's status. Ref'd, it settles within maxMs, always.
        const timer = setTimeout(resolve, maxMs);
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
        process.stderr.write(
          `usage-beacon debug: would send ${copies}× ${datagram.length} bytes to ${where}: ${datagram.toString('utf8')}\n`,
        );
      } catch {
        // stderr closed: a debug aid must not break the host.
      }
    },
    flush: () => Promise.resolve(),
    close() {},
  };
}
