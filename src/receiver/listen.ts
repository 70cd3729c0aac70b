import { isAscii } from 'node:buffer';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';
import { BeaconError } from '../errors.js';
import { RECEIVER_MAX_BYTES } from '../protocol/limits.js';
import { FLAG_NON_ASCII } from '../protocol/decode.js';
import { META, nativeUdp, type NativeUdp, type UdpReader } from './native-udp.js';
import { networkKey } from './network-key.js';

/** Asked of the kernel so bursts and commit pauses are absorbed rather than dropped. */
export const RECV_BUFFER_BYTES = 8 * 1024 * 1024;

/** Datagrams the native reader takes per recvmmsg call; each gets a slot of the largest size we accept. */
const SLOTS = 256;
/**
 * How often the native reader empties the socket while traffic flows (see udp_batch.c): at 60k/s
 * that is ~60 datagrams per wake-up instead of one. The receive buffer holds far more than 1 ms.
 */
const COALESCE_MS = 1;

/**
 * One datagram for the pipeline: its bytes are buf[start, start + length). `flags` carries
 * FLAG_TRUNCATED (longer than RECEIVER_MAX_BYTES: oversized, bytes incomplete) and FLAG_NON_ASCII;
 * `net` is the source's network key (src/receiver/network-key.ts), never its address.
 */
export type DatagramSink = (buf: Buffer, start: number, length: number, flags: number, net: number) => void;

export interface Listening {
  port: number;
  /** What the kernel granted (Linux reports its doubled bookkeeping value). */
  recvBufferBytes: number;
  /** `recvmmsg`: the native batch reader; `dgram`: node:dgram, one callback per datagram. */
  reader: 'recvmmsg' | 'dgram';
  /** Starts delivering datagrams; `onError` gets read errors after bind (rare, e.g. ENOMEM). */
  start(sink: DatagramSink, onError: (message: string) => void): void;
  /** Stops reading and releases the socket. */
  close(): Promise<void>;
}

/**
 * How the socket is bound:
 * - `exclusive`: our own socket; a second receiver on the port fails (the default, one process).
 * - `shared`: in a cluster worker without SO_REUSEPORT (the dgram reader on Node < 22.12), the
 *   primary binds once and every worker reads that one socket (`exclusive: false` opts into it).
 * - `reuseport`: our own socket with SO_REUSEPORT (the native reader, or dgram on Node ≥ 22.12 /
 *   23.1); the kernel spreads datagrams over the workers' sockets.
 */
export type BindMode = 'exclusive' | 'shared' | 'reuseport';

/**
 * Binds the UDP socket: with the native batch reader when it is available, else node:dgram. An
 * IPv6 host (e.g. `::`) gets a dual-stack socket. Any bind failure is a one-line
 * BEACON_ERR_PORT_IN_USE naming the address.
 */
export async function listenUdp(
  host: string,
  port: number,
  wantBuffer = RECV_BUFFER_BYTES,
  mode: BindMode = 'exclusive',
  reader: UdpReader = 'auto',
): Promise<Listening> {
  const native = mode === 'shared' ? undefined : nativeUdp(reader);
  return native ? listenNative(native, host, port, wantBuffer, mode) : listenDgram(host, port, wantBuffer, mode);
}

function bindError(host: string, port: number, code: string): BeaconError {
  const why = code === 'EADDRINUSE' ? 'address already in use' : code;
  return new BeaconError('BEACON_ERR_PORT_IN_USE', `cannot listen on UDP ${host}:${port}: ${why}`);
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

async function listenNative(native: NativeUdp, host: string, port: number, wantBuffer: number, mode: BindMode): Promise<Listening> {
  let address = host;
  if (!isIP(host)) {
    try {
      address = (await lookup(host)).address;
    } catch (e) {
      throw bindError(host, port, (e as NodeJS.ErrnoException).code ?? 'cannot resolve');
    }
  }
  const bound = native.bind(address, port, wantBuffer, mode === 'reuseport');
  if ('errno' in bound) throw bindError(host, port, ERRNO_NAMES.get(bound.errno) ?? `errno ${bound.errno}`);
  const buffer = Buffer.alloc(SLOTS * RECEIVER_MAX_BYTES);
  const meta = new Float64Array(SLOTS * META);
  let handle: object | undefined;
  // The socket until a reader owns it; undefined once closed (close() must never close a reused fd).
  let fd: number | undefined = bound.fd;
  return {
    port: bound.port,
    recvBufferBytes: bound.recvBufferBytes,
    reader: 'recvmmsg',
    start(sink, onError) {
      if (fd === undefined) throw new Error('the UDP socket is closed');
      try {
        handle = native.open(fd, buffer, meta, RECEIVER_MAX_BYTES, COALESCE_MS, (n) => {
          if (n < 0) {
            onError(ERRNO_NAMES.get(-n) ?? `errno ${-n}`);
            return;
          }
          for (let i = 0, m = 0; i < n; i++, m += META) sink(buffer, i * RECEIVER_MAX_BYTES, meta[m]!, meta[m + 1]!, meta[m + 2]!);
        });
      } catch (e) {
        native.closeFd(fd);
        fd = undefined;
        throw e;
      }
      fd = undefined;
    },
    close() {
      if (handle) native.close(handle);
      else if (fd !== undefined) native.closeFd(fd);
      handle = undefined;
      fd = undefined;
      // libuv releases the socket on the next turn of the loop.
      return new Promise((r) => setImmediate(r));
    },
  };
}

async function listenDgram(host: string, port: number, wantBuffer: number, mode: BindMode): Promise<Listening> {
  const type = isIP(host) === 6 ? 'udp6' : 'udp4';
  // `reusePort` is not in Node 20's types (nor honoured there): passed only when asked for.
  const socket: Socket = createSocket(
    mode === 'reuseport' ? ({ type, reuseAddr: false, reusePort: true } as Parameters<typeof createSocket>[0]) : { type, reuseAddr: false },
  );
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      socket.close();
      reject(bindError(host, port, e.code ?? e.message));
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: mode !== 'shared' }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  let granted = 0;
  try {
    socket.setRecvBufferSize(wantBuffer);
  } catch {
    // The kernel refused the size outright; what we have is reported below.
  }
  try {
    granted = socket.getRecvBufferSize();
  } catch {
    granted = 0;
  }
  return {
    port: socket.address().port,
    recvBufferBytes: granted,
    reader: 'dgram',
    start(sink, onError) {
      socket.on('message', (buf, rinfo) => sink(buf, 0, buf.length, isAscii(buf) ? 0 : FLAG_NON_ASCII, networkKey(rinfo.address)));
      socket.on('error', (e) => onError(e.message));
    },
    close() {
      socket.removeAllListeners('message');
      return new Promise<void>((r) => socket.close(() => r()));
    },
  };
}
