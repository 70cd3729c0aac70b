import { dgram } from './builtins.js';
import { readText as readFileText } from './bytes.js';
import { ipFamily } from '../protocol/ip-literal.js';
import { randomBytesFast } from './random.js';

/**
 * A small stub resolver (/etc/hosts, then A/AAAA over UDP to the resolv.conf name servers) whose
 * socket and timers are all unref'd. Why not node:dns: dns.lookup() runs getaddrinfo on the
 * thread pool and its request keeps the process alive (~10 s when the DNS server never answers),
 * and dns.Resolver's c-ares handles keep it alive too (~6 s measured). A worker thread running
 * lookup() is no better: Node joins it at exit. Telemetry must never hold its host open, so a
 * collector hostname is resolved here, and an unanswered query simply never completes.
 */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

const TIMEOUT_MS = 2000;
const TYPE_A = 1;
const TYPE_AAAA = 28;

export function lookupHostsFile(name: string, text: string): ResolvedAddress | undefined {
  const wanted = name.toLowerCase();
  let v6: ResolvedAddress | undefined;
  for (const raw of text.split('\n')) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length < 2) continue;
    const family = ipFamily(fields[0]!);
    if (!family || !fields.slice(1).some((n) => n.toLowerCase() === wanted)) continue;
    if (family === 4) return { address: fields[0]!, family: 4 };
    v6 ??= { address: fields[0]!, family: 6 };
  }
  return v6;
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [] };
  for (const raw of text.split('\n')) {
    const [key, ...rest] = raw
      .replace(/[#;].*/, '')
      .trim()
      .split(/\s+/);
    if (key === 'nameserver' && rest[0] && ipFamily(rest[0].replace(/%.*$/, '')) && conf.nameservers.length < 3) {
      conf.nameservers.push(rest[0].replace(/%.*$/, ''));
    } else if (key === 'search' || key === 'domain') {
      conf.search = rest.filter(Boolean);
    }
  }
  if (conf.nameservers.length === 0) conf.nameservers.push('127.0.0.1');
  return conf;
}

export function encodeQuery(id: number, name: string, type: number): Buffer {
  const labels = name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const label of labels) {
    const b = Buffer.from(label, 'ascii');
    if (b.length < 1 || b.length > 63) throw new RangeError('bad DNS label');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0, type >> 8, type & 255, 0, 1]));
  return Buffer.concat(parts);
}

/** Offset just past a (possibly compressed) name, or -1 when malformed. Every read is bounds-checked: the reply is untrusted input. */
function skipName(msg: Buffer, offset: number): number {
  let i = offset;
  for (let guard = 0; guard < 128; guard++) {
    if (i >= msg.length) return -1;
    const len = msg[i]!;
    if (len === 0) return i + 1;
    if ((len & 0xc0) === 0xc0) return i + 2 <= msg.length ? i + 2 : -1;
    if (len & 0xc0) return -1;
    i += 1 + len;
  }
  return -1;
}

/** Addresses of the wanted type in a reply to query `id`; undefined when it is not a usable reply. */
export function parseAnswer(msg: Buffer, id: number, type: number): string[] | undefined {
  if (msg.length < 12 || msg.readUInt16BE(0) !== id || !(msg[2]! & 0x80)) return undefined;
  if ((msg[3]! & 0x0f) !== 0) return [];
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let i = 12;
  for (let q = 0; q < qd; q++) {
    i = skipName(msg, i);
    if (i < 0 || i + 4 > msg.length) return undefined;
    i += 4;
  }
  const out: string[] = [];
  for (let a = 0; a < an; a++) {
    i = skipName(msg, i);
    if (i < 0 || i + 10 > msg.length) return out;
    const rtype = msg.readUInt16BE(i);
    const rdlen = msg.readUInt16BE(i + 8);
    i += 10;
    if (i + rdlen > msg.length) return out;
    if (rtype === type && type === TYPE_A && rdlen === 4) out.push(Array.from(msg.subarray(i, i + 4)).join('.'));
    if (rtype === type && type === TYPE_AAAA && rdlen === 16) {
      const words: string[] = [];
      for (let w = 0; w < 16; w += 2) words.push(msg.readUInt16BE(i + w).toString(16));
      out.push(words.join(':'));
    }
    i += rdlen;
  }
  return out;
}

/** One query to one server; resolves undefined on timeout or error. Nothing here is ref'd. */
function query(server: string, port: number, name: string, type: number): Promise<string[] | undefined> {
  return new Promise((resolve) => {
    const id = randomBytesFast(2).readUInt16BE(0);
    const family = ipFamily(server) === 6 ? 'udp6' : 'udp4';
    const sock = dgram().createSocket({ type: family, lookup: (a, _f, cb) => cb(null, a, ipFamily(a) === 6 ? 6 : 4) });
    let done = false;
    const finish = (v: string[] | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // Already closed: nothing to release.
      }
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), TIMEOUT_MS);
    timer.unref(); // An unanswered query must not keep the host program alive.
    sock.on('error', () => finish(undefined));
    sock.on('message', (msg) => {
      const got = parseAnswer(msg, id, type);
      if (got !== undefined) finish(got);
    });
    sock.connect(port, server); // connected: replies from any other source are dropped by the kernel
    sock.unref();
    sock.send(encodeQuery(id, name, type));
  });
}

function candidates(name: string, conf: ResolvConf): string[] {
  if (name.endsWith('.') || name.includes('.')) return [name];
  return [name, ...conf.search.map((d) => `${name}.${d}`)];
}

/**
 * Resolve a collector hostname; undefined when it does not resolve (or never answers — then the
 * promise simply stays pending, holding nothing). Never rejects.
 */
export interface ResolverFiles {
  hosts: string;
  resolvConf: string;
  /** DNS port; 53 except in tests. */
  port: number;
}

const SYSTEM: ResolverFiles = { hosts: '/etc/hosts', resolvConf: '/etc/resolv.conf', port: 53 };

export async function resolveHost(name: string, files: ResolverFiles = SYSTEM): Promise<ResolvedAddress | undefined> {
  try {
    if (name.toLowerCase() === 'localhost') return { address: '127.0.0.1', family: 4 };
    const hosts = lookupHostsFile(name, readText(files.hosts));
    if (hosts) return hosts;
    const conf = parseResolvConf(readText(files.resolvConf));
    for (const candidate of candidates(name, conf)) {
      for (const type of [TYPE_A, TYPE_AAAA]) {
        for (const server of conf.nameservers) {
          const got = await query(server, files.port, candidate, type);
          if (got === undefined) continue; // no reply from this server: try the next
          if (got.length > 0) return { address: got[0]!, family: type === TYPE_A ? 4 : 6 };
          break; // a definite "no such record" answer: don't ask the other servers
        }
      }
    }
  } catch {
    // A malformed name or unreadable config: the beacon just sends nothing.
  }
  return undefined;
}

function readText(p: string): string {
  try {
    return readFileText(p);
  } catch {
    return '';
  }
}
