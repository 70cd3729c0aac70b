/**
 * IP-literal classification with the same answers as node:net's isIP/isIPv4/isIPv6, without
 * node:net. Why: loading node:net costs 3-5 ms on the reference machine, and the beacon only ever
 * needs "is this an IP literal, and of which family" on its start path. Node's isIPv6 is also a
 * large regex whose first compile costs milliseconds; this is a single linear scan.
 * test/protocol/ip-literal.test.ts checks every function against node:net over a table and a fuzz.
 */

/** One decimal octet as Node accepts it: 0-255, no leading zero, no sign. */
function isOctet(s: string, from: number, to: number): boolean {
  const len = to - from;
  if (len < 1 || len > 3) return false;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return false;
    n = n * 10 + c;
  }
  return n <= 255 && !(len > 1 && s.charCodeAt(from) === 48);
}

/** Dotted quad within s[from, to). */
function isV4Range(s: string, from: number, to: number): boolean {
  let start = from;
  let dots = 0;
  for (let i = from; i <= to; i++) {
    if (i === to || s.charCodeAt(i) === 46 /* . */) {
      if (!isOctet(s, start, i)) return false;
      if (i < to && ++dots > 3) return false;
      start = i + 1;
    }
  }
  return dots === 3;
}

function isHexGroup(s: string): boolean {
  if (s.length < 1 || s.length > 4) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20; // fold A-F to a-f (digits are unchanged by the bit)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Node accepts a zone ID of letters, digits, '-', '.' and ':' after '%'. */
function isZone(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 58) /* 0-9 : */ || ((c | 0x20) >= 97 && (c | 0x20) <= 122) || c === 45 || c === 46;
    if (!ok) return false;
  }
  return true;
}

/** Count the 16-bit groups of colon-separated parts; an IPv4 tail counts two. -1 when malformed. */
function countGroups(parts: string[], mayEndInV4: boolean): number {
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (mayEndInV4 && i === parts.length - 1 && p.includes('.')) {
      if (!isV4Range(p, 0, p.length)) return -1;
      n += 2;
    } else if (isHexGroup(p)) {
      n += 1;
    } else {
      return -1;
    }
  }
  return n;
}

export function isIPv4Literal(s: string): boolean {
  return isV4Range(s, 0, s.length);
}

export function isIPv6Literal(s: string): boolean {
  const pct = s.indexOf('%');
  if (pct >= 0 && !isZone(s.slice(pct + 1))) return false;
  const addr = pct >= 0 ? s.slice(0, pct) : s;
  const gap = addr.indexOf('::');
  if (gap < 0) return countGroups(addr.split(':'), true) === 8;
  const head = addr.slice(0, gap);
  const tail = addr.slice(gap + 2);
  if (tail.includes('::')) return false;
  // "::" stands for at least one zero group, so at most seven are written out.
  const h = head === '' ? 0 : countGroups(head.split(':'), false);
  const t = tail === '' ? 0 : countGroups(tail.split(':'), true);
  return h >= 0 && t >= 0 && h + t <= 7;
}

/** 4 or 6 for an IP literal, else 0 (like node:net's isIP). */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (isIPv4Literal(s)) return 4;
  // An IPv6 literal has at least two colons; skip the scan for ordinary hostnames.
  return s.indexOf(':') !== s.lastIndexOf(':') && isIPv6Literal(s) ? 6 : 0;
}
