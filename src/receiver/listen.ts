import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { BeaconError } from '../errors.js';

/** Asked of the kernel so bursts and commit pauses are absorbed rather than dropped. */
export const RECV_BUFFER_BYTES = 8 * 1024 * 1024;

export interface Listening {
  socket: Socket;
  port: number;
  /** What the kernel granted (Linux reports its doubled bookkeeping value). */
  recvBufferBytes: number;
}

/**
 * How the socket is bound:
 * - `exclusive`: our own socket; a second receiver on the port fails (the default, one process).
 * - `shared`: in a cluster worker on Node 20, the primary binds once and every worker reads that one
 *   socket (`exclusive: false` is what opts into the sharing).
 * - `reuseport`: our own socket with SO_REUSEPORT (Node ≥ 22.12 / 23.1); the kernel spreads
 *   datagrams over the workers' sockets. `exclusive: true` keeps the bind in this process.
 */
export type BindMode = 'exclusive' | 'shared' | 'reuseport';

/**
 * Binds the UDP socket. An IPv6 host (e.g. `::`) gets a dual-stack socket. Any bind failure is a
 * one-line BEACON_ERR_PORT_IN_USE naming the address.
 */
export async function listenUdp(host: string, port: number, wantBuffer = RECV_BUFFER_BYTES, mode: BindMode = 'exclusive'): Promise<Listening> {
  const type = isIP(host) === 6 ? 'udp6' : 'udp4';
  // `reusePort` is not in Node 20's types (nor honoured there): passed only when asked for.
  const socket = createSocket(mode === 'reuseport' ? ({ type, reuseAddr: false, reusePort: true } as Parameters<typeof createSocket>[0]) : { type, reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      socket.close();
      const why = e.code === 'EADDRINUSE' ? 'address already in use' : (e.code ?? e.message);
      reject(new BeaconError('BEACON_ERR_PORT_IN_USE', `cannot listen on UDP ${host}:${port}: ${why}`));
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
  return { socket, port: socket.address().port, recvBufferBytes: granted };
}
