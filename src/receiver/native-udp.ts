import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The optional native batch reader (native/udp-batch/udp_batch.c, built by `npm install` through
 * scripts/build-native.mjs). Linux only; anywhere it is missing the receiver reads through
 * node:dgram, which is correct but costs ~5 µs more per datagram (docs/receiver.md).
 * `--`/$BEACON_UDP_READER=dgram (src/receiver/options.ts) forces the fallback (tests cover both).
 */
export interface NativeUdp {
  bind(
    host: string,
    port: number,
    recvBufferBytes: number,
    reusePort: boolean,
  ): { fd: number; port: number; recvBufferBytes: number } | { errno: number };
  open(fd: number, buffer: Buffer, meta: Float64Array, slotBytes: number, coalesceMs: number, onBatch: (n: number) => void): object;
  close(handle: object): void;
  closeFd(fd: number): void;
}

// The per-datagram flags the reader writes (FLAG_TRUNCATED, FLAG_NON_ASCII) are the decoder's
// input, so they are defined beside it: src/protocol/decode.ts.
/** Numbers per datagram in the meta array: length, flags, network key. */
export const META = 3;

const ADDON = new URL('../../native/udp-batch/build/Release/udp_batch.node', import.meta.url);

let loaded: NativeUdp | null | undefined;

/** `auto`: the native reader where it is built, else node:dgram; `dgram`: node:dgram always. */
export type UdpReader = 'auto' | 'dgram';

/** The addon, or undefined when it is not built, not Linux, or the dgram reader is asked for. */
export function nativeUdp(reader: UdpReader = 'auto'): NativeUdp | undefined {
  if (reader === 'dgram' || process.platform !== 'linux') return undefined;
  if (loaded === undefined) {
    try {
      loaded = existsSync(ADDON) ? (createRequire(import.meta.url)(ADDON.pathname) as NativeUdp) : null;
    } catch {
      // A broken or foreign build (another platform or architecture): the dgram reader is always there.
      loaded = null;
    }
  }
  return loaded ?? undefined;
}
