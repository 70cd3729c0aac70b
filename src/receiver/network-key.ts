/**
 * A datagram source's network as a number, never its address: the rate limiter's key and, at
 * debug level, what a log line may show. IPv4 /24 → its top 24 bits (0 … 2^24 − 1); IPv6 /48 →
 * 2^48 + its top 48 bits; a v4-mapped IPv6 address counts as its IPv4. One host cannot dodge the
 * rate limit by cycling addresses inside its subnet.
 *
 * The native batch reader (native/udp-batch) computes the same number from the socket address in
 * C; this is the version for an address string (node:dgram's rinfo), and the two are tested equal.
 */

const V6_BASE = 2 ** 48;

/** `192.0.2.77` → key of `192.0.2`; `2001:db8:1:2::5` → key of `2001:db8:1`; NaN if not an IP. */
export function networkKey(address: string): number {
  const dot = address.lastIndexOf('.');
  if (dot >= 0) {
    // IPv4, or the IPv4 tail of a v4-mapped IPv6 address.
    const parts = address.slice(address.lastIndexOf(':') + 1).split('.');
    if (parts.length !== 4) return NaN;
    return ((Number(parts[0]) << 16) | (Number(parts[1]) << 8) | Number(parts[2])) >>> 0;
  }
  const zone = address.indexOf('%');
  const a = zone >= 0 ? address.slice(0, zone) : address;
  const gap = a.indexOf('::');
  const head = gap >= 0 ? a.slice(0, gap) : a;
  const groups = head === '' ? [] : head.split(':', 3);
  let top = 0;
  for (let i = 0; i < 3; i++) {
    const g = i < groups.length ? parseInt(groups[i]!, 16) : 0;
    if (!(g >= 0 && g <= 0xffff)) return NaN;
    top = top * 0x10000 + g;
  }
  return V6_BASE + top;
}

/** The network a key stands for, as a log line shows it: `192.0.2`, `2001:db8:1`. */
export function networkLabel(key: number): string {
  if (!(key >= 0)) return 'unknown';
  if (key < V6_BASE) return `${Math.floor(key / 65536) & 255}.${Math.floor(key / 256) & 255}.${key & 255}`;
  const top = key - V6_BASE;
  const g0 = Math.floor(top / 2 ** 32);
  const g1 = Math.floor(top / 65536) % 65536;
  const g2 = top % 65536;
  return `${g0.toString(16)}:${g1.toString(16)}:${g2.toString(16)}`;
}
