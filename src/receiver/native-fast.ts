import { MAX_PLAUSIBLE_DURATION_MS } from '../protocol/limits.js';
import type { IngestRecord } from '../store/types.js';

/**
 * The fast path for a native datagram: one pass over its bytes that parses and validates the
 * shape every beacon sends, and builds the record with no JSON.parse, no parsed object, no schema
 * run and no JSON.stringify of the components. Profiled on a loaded core, JSON.parse + ajv + the
 * record's normalization were most of the socket thread's CPU per datagram, and their garbage most
 * of the V8 helper threads'.
 *
 * It never rejects: it returns a record only when it is certain the full path (decode → JSON.parse
 * → ajv with the protocol's JSON Schema → plausibility → fromNative) would accept the datagram and
 * build exactly this record; for anything else (an escape in a string, a fraction or exponent, a
 * duplicate key, whitespace inside components, an unknown key, any out-of-range value) it returns
 * undefined and the full path decides, with ajv as the reference. test/receiver/native-fast.test.ts
 * checks that agreement on generated and mutated datagrams.
 *
 * What it checks, field by field, is the schema (src/protocol/beacon-v1.schema.json): the 13
 * required keys, no others but eph / components / exit / dur_ms, `v` 1, `kind` start|end, `run` a
 * lowercase UUID of version 4 or 7, labels 1–64 and platforms 1–32 characters in 0x21–0x7e, ids 32
 * lowercase hex, `t` an integer ≥ 0, booleans, components ≤ 16 entries with [a-z0-9_.-]{1,32} keys
 * and number or ≤ 64-character string values, `exit` 0–255 and `dur_ms` required on an end and
 * forbidden on a start; and plausibility's bounds (safe integers; a duration within a year).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const MINUS = 0x2d;

// Key ids (bit positions in the seen mask).
const K_V = 0,
  K_KIND = 1,
  K_RUN = 2,
  K_PROJECT = 3,
  K_VERSION = 4,
  K_USER = 5,
  K_HOST = 6,
  K_SCRIPT = 7,
  K_T = 8,
  K_RUNTIME = 9,
  K_OS = 10,
  K_ARCH = 11,
  K_CI = 12,
  K_EPH = 13,
  K_COMPONENTS = 14,
  K_EXIT = 15,
  K_DUR = 16;
const REQUIRED = (1 << 13) - 1; // v … ci

const KEYS: readonly string[] = [
  'v',
  'kind',
  'run',
  'project',
  'version',
  'user',
  'host',
  'script',
  't',
  'runtime',
  'os',
  'arch',
  'ci',
  'eph',
  'components',
  'exit',
  'dur_ms',
];
const KEY_BYTES = KEYS.map((k) => Buffer.from(k, 'latin1'));

const START = Buffer.from('start', 'latin1');
const FORBIDDEN_COMPONENT_KEYS = ['__proto__', 'constructor', 'prototype'].map((k) => Buffer.from(k, 'latin1'));
const MAX_COMPONENTS = 16;

/** Parse state: the position after the last token read (a module-level cursor: no allocation). */
let pos = 0;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWs(buf: Buffer, end: number): void {
  while (pos < end && isWs(buf[pos]!)) pos++;
}

/** The key at buf[s, e) → its id, or -1: one candidate by length and first letters, then one compare. */
function keyId(buf: Buffer, s: number, e: number): number {
  const c = buf[s];
  let k = -1;
  switch (e - s) {
    case 1:
      k = c === 0x76 ? K_V : c === 0x74 ? K_T : -1;
      break;
    case 2:
      k = c === 0x6f ? K_OS : c === 0x63 ? K_CI : -1;
      break;
    case 3:
      k = c === 0x72 ? K_RUN : c === 0x65 ? K_EPH : -1;
      break;
    case 4:
      k = c === 0x6b ? K_KIND : c === 0x75 ? K_USER : c === 0x68 ? K_HOST : c === 0x61 ? K_ARCH : c === 0x65 ? K_EXIT : -1;
      break;
    case 6:
      k = c === 0x73 ? K_SCRIPT : c === 0x64 ? K_DUR : -1;
      break;
    case 7:
      k = c === 0x76 ? K_VERSION : c === 0x72 ? K_RUNTIME : c === 0x70 ? K_PROJECT : -1;
      break;
    case 10:
      k = K_COMPONENTS;
      break;
  }
  return k >= 0 && equalsBytes(buf, s, e, KEY_BYTES[k]!) ? k : -1;
}

/**
 * A string token at pos (after skipWs): its content's end (pos is left after the closing quote),
 * or -1 when it is not a plain string (no quote, a backslash escape, a control or non-ASCII byte,
 * or more than `max` characters).
 */
function plainString(buf: Buffer, end: number, max: number): number {
  if (buf[pos] !== QUOTE) return -1;
  const s = ++pos;
  const limit = Math.min(end, s + max + 1);
  while (pos < limit) {
    const c = buf[pos]!;
    if (c === QUOTE) {
      const e = pos++;
      return e;
    }
    if (c === BACKSLASH || c < 0x20 || c > 0x7e) return -1;
    pos++;
  }
  return -1;
}

/** Every byte of buf[s, e) in 0x21–0x7e (labels and platforms); the quote and backslash never get here. */
function printable(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (buf[i]! === 0x20) return false;
  return true;
}

function lowerHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

function isId(buf: Buffer, s: number, e: number): boolean {
  if (e - s !== 32) return false;
  for (let i = s; i < e; i++) if (!lowerHex(buf[i]!)) return false;
  return true;
}

/** ^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ */
function isRun(buf: Buffer, s: number, e: number): boolean {
  if (e - s !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = buf[s + i]!;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== MINUS) return false;
    } else if (!lowerHex(c)) return false;
  }
  const ver = buf[s + 14]!;
  const variant = buf[s + 19]!;
  return (ver === 0x34 || ver === 0x37) && (variant === 0x38 || variant === 0x39 || variant === 0x61 || variant === 0x62);
}

/**
 * A canonical integer at pos: -?(0|[1-9][0-9]{0,14}) followed by a delimiter. Its value, or NaN
 * (then the full path decides: fractions, exponents, leading zeros, big numbers).
 */
function integer(buf: Buffer, end: number): number {
  let neg = false;
  if (buf[pos] === MINUS) {
    neg = true;
    pos++;
  }
  const s = pos;
  let v = 0;
  while (pos < end) {
    const c = buf[pos]!;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    pos++;
  }
  const n = pos - s;
  if (n === 0 || n > 15 || (n > 1 && buf[s] === 0x30)) return NaN;
  const c = buf[pos];
  // A fraction, an exponent or anything glued on: not ours to judge.
  if (c !== COMMA && c !== CLOSE && !(c !== undefined && isWs(c))) return NaN;
  if (neg) return v === 0 ? NaN : -v; // "-0" parses to -0: leave it to the full path
  return v;
}

/** `true` / `false` at pos: 1 / 0, or -1. */
function boolean(buf: Buffer, end: number): number {
  if (pos + 4 <= end && buf[pos] === 0x74 && buf[pos + 1] === 0x72 && buf[pos + 2] === 0x75 && buf[pos + 3] === 0x65) {
    pos += 4;
    return 1;
  }
  if (
    pos + 5 <= end &&
    buf[pos] === 0x66 &&
    buf[pos + 1] === 0x61 &&
    buf[pos + 2] === 0x6c &&
    buf[pos + 3] === 0x73 &&
    buf[pos + 4] === 0x65
  ) {
    pos += 5;
    return 0;
  }
  return -1;
}

function sameBytes(buf: Buffer, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let i = 0; i < e1 - s1; i++) if (buf[s1 + i] !== buf[s2 + i]) return false;
  return true;
}

function equalsBytes(buf: Buffer, s: number, e: number, b: Buffer): boolean {
  if (e - s !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (buf[s + i] !== b[i]) return false;
  return true;
}

function allDigits(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (buf[i]! < 0x30 || buf[i]! > 0x39) return false;
  return true;
}

const componentKeyStarts = new Int32Array(MAX_COMPONENTS);
const componentKeyEnds = new Int32Array(MAX_COMPONENTS);

/**
 * A components object at pos, written exactly as JSON.stringify writes the parsed object (no
 * whitespace, canonical integers, plain strings), so its bytes are the stored text. Returns the
 * number of entries, or -1.
 */
function components(buf: Buffer, end: number): number {
  if (buf[pos] !== OPEN) return -1;
  pos++;
  if (buf[pos] === CLOSE) {
    pos++;
    return 0;
  }
  let n = 0;
  for (;;) {
    if (n === MAX_COMPONENTS) return -1;
    const ks = pos + 1;
    const ke = plainString(buf, end, 32);
    if (ke < 0 || ke === ks) return -1;
    for (let i = ks; i < ke; i++) {
      const c = buf[i]!;
      const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === MINUS;
      if (!ok) return -1;
    }
    // Prototype names: checkComponents refuses them. All digits: an integer-like key, which JS
    // objects order before the others, so JSON.stringify would not give back these bytes.
    if (allDigits(buf, ks, ke)) return -1;
    for (const f of FORBIDDEN_COMPONENT_KEYS) if (equalsBytes(buf, ks, ke, f)) return -1;
    for (let j = 0; j < n; j++) if (sameBytes(buf, ks, ke, componentKeyStarts[j]!, componentKeyEnds[j]!)) return -1;
    componentKeyStarts[n] = ks;
    componentKeyEnds[n] = ke;
    n++;
    if (buf[pos] !== COLON) return -1;
    pos++;
    if (buf[pos] === QUOTE) {
      if (plainString(buf, end, 64) < 0) return -1;
    } else if (Number.isNaN(integer(buf, end))) return -1;
    const c = buf[pos];
    pos++;
    if (c === CLOSE) return n;
    if (c !== COMMA) return -1;
  }
}

/**
 * The record for the native datagram at buf[start, start + length) (ASCII, within the size limit:
 * the caller checked), or undefined when the full path must decide.
 */
export function fastNativeRecord(buf: Buffer, start: number, length: number, seenMs: number, month: number): IngestRecord | undefined {
  const end = start + length;
  // One string of the whole datagram; the fields are slices of it (one conversion, not ten).
  const text = buf.toString('latin1', start, end);
  const str = (s: number, e: number): string => text.slice(s - start, e - start);
  pos = start;
  skipWs(buf, end);
  if (buf[pos] !== OPEN) return undefined;
  pos++;
  let seen = 0;
  let end_ = false;
  let run = '',
    project = '',
    version = '',
    user = '',
    host = '',
    script = '',
    runtime = '',
    os = '',
    arch = '';
  let t = 0,
    exit = 0,
    dur = 0;
  let ci = false,
    eph = false;
  let comps: string | null = null;
  for (;;) {
    skipWs(buf, end);
    const ks = pos + 1;
    const ke = plainString(buf, end, 16);
    if (ke < 0) return undefined;
    const k = keyId(buf, ks, ke);
    if (k < 0 || seen & (1 << k)) return undefined;
    seen |= 1 << k;
    skipWs(buf, end);
    if (buf[pos] !== COLON) return undefined;
    pos++;
    skipWs(buf, end);
    switch (k) {
      case K_V:
        if (integer(buf, end) !== 1) return undefined;
        break;
      case K_KIND: {
        const s = pos + 1;
        const e = plainString(buf, end, 5);
        if (e - s === 3 && buf[s] === 0x65 && buf[s + 1] === 0x6e && buf[s + 2] === 0x64) end_ = true;
        else if (!(e - s === 5 && equalsBytes(buf, s, e, START))) return undefined;
        break;
      }
      case K_RUN: {
        const s = pos + 1;
        const e = plainString(buf, end, 36);
        if (e < 0 || !isRun(buf, s, e)) return undefined;
        run = str(s, e);
        break;
      }
      case K_USER:
      case K_HOST:
      case K_SCRIPT: {
        const s = pos + 1;
        const e = plainString(buf, end, 32);
        if (e < 0 || !isId(buf, s, e)) return undefined;
        const v = str(s, e);
        if (k === K_USER) user = v;
        else if (k === K_HOST) host = v;
        else script = v;
        break;
      }
      case K_PROJECT:
      case K_VERSION:
      case K_RUNTIME:
      case K_OS:
      case K_ARCH: {
        const max = k === K_OS || k === K_ARCH ? 32 : 64;
        const s = pos + 1;
        const e = plainString(buf, end, max);
        if (e <= s || !printable(buf, s, e)) return undefined;
        const v = str(s, e);
        if (k === K_PROJECT) project = v;
        else if (k === K_VERSION) version = v;
        else if (k === K_RUNTIME) runtime = v;
        else if (k === K_OS) os = v;
        else arch = v;
        break;
      }
      case K_T:
        t = integer(buf, end);
        if (!(t >= 0)) return undefined;
        break;
      case K_CI:
      case K_EPH: {
        const b = boolean(buf, end);
        if (b < 0) return undefined;
        if (k === K_CI) ci = b === 1;
        else eph = b === 1;
        break;
      }
      case K_COMPONENTS: {
        const s = pos;
        const n = components(buf, end);
        if (n < 0) return undefined;
        comps = n > 0 ? str(s, pos) : null;
        break;
      }
      case K_EXIT:
        exit = integer(buf, end);
        if (!(exit >= 0 && exit <= 255)) return undefined;
        break;
      case K_DUR:
        dur = integer(buf, end);
        if (!(dur >= 0 && dur <= MAX_PLAUSIBLE_DURATION_MS)) return undefined;
        break;
    }
    skipWs(buf, end);
    const c = buf[pos];
    pos++;
    if (c === CLOSE) break;
    if (c !== COMMA) return undefined;
  }
  skipWs(buf, end);
  if (pos !== end) return undefined;
  if ((seen & REQUIRED) !== REQUIRED) return undefined;
  const hasEndFields = seen & ((1 << K_EXIT) | (1 << K_DUR));
  if (end_ ? hasEndFields !== ((1 << K_EXIT) | (1 << K_DUR)) : hasEndFields !== 0) return undefined;
  return {
    run,
    kind: end_ ? 'end' : 'start',
    project,
    format: 'native',
    user_id: user,
    host_id: host,
    script_id: script,
    weak_ids: false,
    eph,
    version,
    runtime,
    os,
    arch,
    ci,
    components: comps,
    seen_ms: seenMs,
    month,
    client_ms: t,
    exit_code: end_ ? exit : null,
    duration_ms: end_ ? dur : null,
    // Same shape as the full path's record (normalize.ts): the pipeline sets the tag if stored.
    net_tag: null,
  };
}
