import { fs, os } from './builtins.js';
import { ID_HEX_LENGTH } from '../protocol/index.js';
import { hmacSha256Key } from './sha256.js';
import { fromHex, isLowerHex, readText, toHex } from './bytes.js';

/**
 * Anonymized IDs: HMAC-SHA-256 keyed with a secret that never leaves the machine, truncated to
 * 128 bits. Without the key, an ID cannot be linked back to the name it was made from, even by
 * someone holding every collected datagram and this source code (see docs/PRIVACY.md).
 */
export function keyedId(key: string | Uint8Array, message: string): string {
  return idHasher(typeof key === 'string' ? Buffer.from(key) : key)(message);
}

/** keyedId for several messages under one key (the key's HMAC blocks are hashed once). */
function idHasher(key: Uint8Array): (message: string) => string {
  const mac = hmacSha256Key(key);
  // Buffer.from(message): UTF-8 is its default, and naming the encoding runs Node's getEncodingOps (bytes.ts).
  return (message) => toHex(mac(Buffer.from(message)), 0, ID_HEX_LENGTH / 2);
}

/** /etc/machine-id (or the D-Bus copy), or undefined when absent or not the documented format. */
export function readMachineId(): string | undefined {
  for (const p of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readText(p).trim();
      if (isLowerHex(id, 32)) return id; // the documented format
    } catch {
      // Not Linux/systemd, or a minimal container: fall back to the secret + hostname below.
    }
  }
  return undefined;
}

export interface AnonymousIds {
  user: string;
  host: string;
  script: string;
}

/**
 * Every ID is per project, so the collectors of two tools that both use usage-beacon on the same
 * account cannot link a person's runs across them (one state file, one secret, serves them all):
 * user = H(secret, "user" NUL project); script = H(secret, "script" NUL project NUL real path or
 * command line); host = H(machine-id, "usage-beacon:host:" + project) as machine-id(5) recommends
 * for an application-specific ID, else H(secret, "host" NUL project NUL hostname). NUL separates
 * the parts: it can occur in none of them, so no two inputs run together into the same message.
 */
export function deriveIds(secret: string, project: string, scriptKey: string): AnonymousIds {
  const keyed = idHasher(fromHex(secret));
  const machineId = readMachineId();
  return {
    user: keyed(`user\0${project}`),
    host: machineId ? keyedId(fromHex(machineId), `usage-beacon:host:${project}`) : keyed(`host\0${project}\0${os().hostname()}`),
    script: keyed(`script\0${project}\0${scriptKey}`),
  };
}

/** Real path of an existing regular file, else undefined (`beacon run`: which of its arguments is the script). */
export function existingFile(p: string | undefined): string | undefined {
  if (!p) return undefined;
  try {
    // The native realpath is one realpath(3) call; the JS one lstat()s every path component.
    const real = fs().realpathSync.native(p);
    return fs().statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Real path of `p` when it exists and is not a directory, else undefined: Node's own rule for what
 * it can run as a main script (its loader treats anything but a directory as a file). Cheaper than
 * existingFile, which every run of the library would pay for: fs.statSync builds a Stats object with
 * four Dates, and compiling and running Node's code for that measured ~0.8 M instructions
 * (bench:beacon-instr), more than a tenth of what the beacon adds to a process. Here the check is one
 * access() of `real/` (ENOTDIR for a file), which existsSync answers without creating an error.
 */
export function existingNonDirectory(p: string | undefined): string | undefined {
  if (!p) return undefined;
  // Windows may strip the trailing separator: there, the Stats way (a regular file, as before).
  if (process.platform === 'win32') return existingFile(p);
  try {
    const real = fs().realpathSync.native(p);
    return fs().existsSync(`${real}/`) ? undefined : real;
  } catch {
    return undefined;
  }
}

/** What the script ID of an in-process run is made from: the entry script's real path, else a fixed marker. */
export function scriptKeyForProcess(script: string | undefined): string {
  return existingNonDirectory(script) ?? script ?? '[no script]';
}
