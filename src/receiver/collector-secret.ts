import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { BeaconError } from '../errors.js';

/**
 * The collector's own secret: 32 random bytes in a file that lives with the collector, never in
 * the store. From it come
 *   - the re-keyed legacy Parsl IDs: Parsl's legacy datagrams carry the first 10 hex characters
 *     of an unsalted SHA-256 of the username and hostname, which a dictionary reverses. They are
 *     stored as HMAC-SHA256(secret, …) instead, so a copy of the database alone reverses nothing;
 *   - the daily network tags of the poisoning checks (a keyed hash of the source network and the
 *     UTC day, so a tag links runs of one network within one day and nothing else);
 *   - a fingerprint, stored in the database, so receivers sharing one PostgreSQL store with
 *     different secrets (which would count one legacy user as several) refuse to start.
 * docs/PRIVACY.md and SECURITY.md describe the choice; docs/receiver.md the file.
 */
export interface CollectorSecret {
  readonly path: string;
  /** true when this start created the file (a new collector, or a lost secret). */
  readonly created: boolean;
  /** Legacy `uname` / `hname` (10 hex) → 32 hex; `kind` keeps a user and a host of one name apart. */
  legacyId(kind: 'user' | 'host', raw: string): string;
  /** A source network key (src/receiver/network-key.ts) on a UTC day → 16 hex, different every day. */
  netTag(day: string, net: number): string;
  /** 16 hex that identify the secret without revealing it. */
  readonly fingerprint: string;
}

const HEX_KEY = /^[0-9a-f]{64}$/;

/** Network tags netTag keeps for the current day (~100 bytes each). */
const NET_TAGS_CACHED = 65_536;

/** Creates the file (0600, atomically: written beside it, then linked in) unless it exists. */
function createOnce(path: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    // link() fails if the name exists, so two receivers starting at once agree on one secret.
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Loads the secret at `path`, creating it on first use. Throws BEACON_ERR_COLLECTOR_SECRET with a
 * one-line reason when it cannot be created or read, or is not 64 hex characters. `warn` hears
 * about a file others can read (it is still used: refusing would stop collection over a mode bit).
 */
export function loadCollectorSecret(path: string, warn: (msg: string) => void = () => {}): CollectorSecret {
  let created = false;
  let text: string;
  try {
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      created = createOnce(path);
      text = readFileSync(path, 'utf8');
    }
    const fd = openSync(path, 'r');
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) warn(`collector secret ${path} is readable by others; chmod 600 it`);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new BeaconError('BEACON_ERR_COLLECTOR_SECRET', `cannot read or create the collector secret ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const hex = text.trim();
  if (!HEX_KEY.test(hex)) {
    throw new BeaconError(
      'BEACON_ERR_COLLECTOR_SECRET',
      `collector secret ${path} must hold 64 lowercase hex characters (32 random bytes)`,
    );
  }
  return secretFromKey(Buffer.from(hex, 'hex'), path, created);
}

/** The derivations, for a key already in memory (tests, and loadCollectorSecret). */
export function secretFromKey(key: Buffer, path = '(memory)', created = false): CollectorSecret {
  const mac = (label: string) => createHmac('sha256', key).update(label);
  // Sub-keys per purpose, so no output of one derivation is ever an input or output of another.
  const idKey = mac('usage-beacon/legacy-id/v1').digest();
  const netKey = mac('usage-beacon/net-tag/v1').digest();
  let dayKey: { day: string; key: Buffer } = { day: '', key: netKey };
  // The day's tags by network key: an HMAC per stored datagram was ~15% of the socket thread's
  // CPU, and a day's traffic comes from few networks. Cleared with the day (so it never links two
  // days), and when full, so a flood from many networks cannot grow it.
  const tags = new Map<number, string>();
  return {
    path,
    created,
    fingerprint: mac('usage-beacon/fingerprint/v1').digest('hex').slice(0, 16),
    legacyId: (kind, raw) => createHmac('sha256', idKey).update(`${kind}:${raw}`).digest('hex').slice(0, 32),
    netTag(day, net) {
      // Daily rotation: the day's key is derived once per day, not per datagram.
      if (dayKey.day !== day) {
        dayKey = { day, key: createHmac('sha256', netKey).update(day).digest() };
        tags.clear();
      }
      let tag = tags.get(net);
      if (tag === undefined) {
        if (tags.size >= NET_TAGS_CACHED) tags.clear();
        tag = createHmac('sha256', dayKey.key).update(String(net)).digest('hex').slice(0, 16);
        tags.set(net, tag);
      }
      return tag;
    },
  };
}
