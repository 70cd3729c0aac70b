import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Kernel-side loss for our socket: the `drops` column of /proc/net/udp and /proc/net/udp6
 * (datagrams the kernel discarded because our receive buffer was full) and the bytes waiting in
 * the queue. Our socket is found by its inode (from /proc/self/fd) and local port, so another
 * process on the same port is never counted. Off Linux, or without /proc, it reads nothing.
 */

export interface SocketQueue {
  drops: number;
  rxQueueBytes: number;
}

function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync('/proc/self/fd')) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
        if (m?.[1] !== undefined) inodes.add(m[1]);
      } catch {
        // The fd closed between readdir and readlink: not ours to count.
      }
    }
  } catch {
    // No /proc: kernel drops are simply not available.
  }
  return inodes;
}

function readTable(path: string): string[] {
  try {
    return readFileSync(path, 'latin1').split('\n').slice(1);
  } catch {
    return [];
  }
}

export class KernelDrops {
  private inodes: Set<string> | undefined;

  constructor(private readonly port: number) {}

  read(): SocketQueue | undefined {
    this.inodes ??= ownSocketInodes();
    const portHex = `:${this.port.toString(16).toUpperCase().padStart(4, '0')}`;
    let found = false;
    const q: SocketQueue = { drops: 0, rxQueueBytes: 0 };
    for (const path of ['/proc/net/udp', '/proc/net/udp6']) {
      for (const line of readTable(path)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 13 || !f[1]!.endsWith(portHex) || !this.inodes.has(f[9]!)) continue;
        found = true;
        q.drops += Number(f[12]);
        q.rxQueueBytes += parseInt(f[4]!.split(':')[1] ?? '0', 16);
      }
    }
    return found ? q : undefined;
  }
}
