import {
  COMPONENT_KEY_PATTERN,
  MAX_COMPONENTS,
  MAX_COMPONENT_STRING_LENGTH,
  MAX_DATAGRAM_BYTES,
  MAX_LABEL_LENGTH,
  MAX_PLATFORM_LENGTH,
  PROTOCOL_VERSION,
} from './limits.js';
import type { BeaconMessage, Components, RunIdentity } from './types.js';

/**
 * Room kept free for the end-only fields (`"t":…,"exit":255,"dur_ms":…`) when trimming
 * components, so the start and the end of a run always fit the same budget.
 */
const END_SUFFIX_RESERVE = 64;

const PRINTABLE = /[^\x21-\x7e]/g;

/** Printable ASCII without spaces, non-empty, capped: what the schema accepts for a label. */
export function cleanLabel(value: unknown, max = MAX_LABEL_LENGTH): string {
  // Any value becomes a label, whatever it is: an object's '[object Object]' is as good as any.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  let s = String(value ?? '');
  // The usual label is clean already: checked by a loop, so the regex (compiled on its first use,
  // ~0.1 M instructions in the beacon's start path, bench:beacon-instr) runs only when it has work.
  if (!isPrintable(s)) s = s.replace(PRINTABLE, '_');
  s = s.slice(0, max);
  return s.length > 0 ? s : 'unknown';
}

/** No character outside '!'..'~' (what PRINTABLE would replace). */
function isPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export function cleanPlatform(value: unknown): string {
  return cleanLabel(value, MAX_PLATFORM_LENGTH);
}

/**
 * Keep only what the protocol allows: at most 16 entries with `[a-z0-9_.-]{1,32}` keys and finite
 * numbers or strings of at most 64 characters. Invalid entries are dropped, never sent half-right.
 * Never throws: embedding tools pass whatever they have.
 */
export function sanitizeComponents(input: unknown): Components | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined;
  const out: Components = {};
  let n = 0;
  for (const key of Object.keys(input)) {
    if (n >= MAX_COMPONENTS) break;
    if (!COMPONENT_KEY_PATTERN.test(key)) continue;
    const value = (input as Record<string, unknown>)[key];
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) continue;
      out[key] = value;
    } else if (typeof value === 'string') {
      out[key] = value.slice(0, MAX_COMPONENT_STRING_LENGTH);
    } else if (typeof value === 'boolean') {
      out[key] = value ? 1 : 0;
    } else {
      continue;
    }
    n++;
  }
  return n > 0 ? out : undefined;
}

/** The identity part of a message, serialized once, in the protocol's field order. */
function identityJson(id: RunIdentity, components: Components | undefined): string {
  let s =
    `"run":${JSON.stringify(id.run)},"project":${JSON.stringify(id.project)},` +
    `"version":${JSON.stringify(id.version)},"user":"${id.user}","host":"${id.host}",` +
    `"script":"${id.script}","runtime":${JSON.stringify(id.runtime)},` +
    `"os":${JSON.stringify(id.os)},"arch":${JSON.stringify(id.arch)},"ci":${id.ci ? 'true' : 'false'}`;
  if (id.eph) s += ',"eph":true';
  if (components && Object.keys(components).length > 0) s += `,"components":${JSON.stringify(components)}`;
  return s;
}

/**
 * Pre-serialized encoder for one run. The identity is serialized once at start, so the exit path
 * only formats three integers and concatenates strings: no JSON.stringify of objects, no allocation
 * beyond the final Buffer.
 */
export interface RunEncoder {
  start(t: number): Buffer;
  end(t: number, exit: number, durMs: number): Buffer;
  /** Components actually sent, after sanitizing and trimming to fit MAX_DATAGRAM_BYTES. */
  readonly components: Components | undefined;
}

export function createRunEncoder(identity: RunIdentity): RunEncoder {
  const id: RunIdentity = {
    ...identity,
    project: cleanLabel(identity.project),
    version: cleanLabel(identity.version),
    runtime: cleanLabel(identity.runtime),
    os: cleanPlatform(identity.os),
    arch: cleanPlatform(identity.arch),
  };
  let components = sanitizeComponents(identity.components);
  let body = identityJson(id, components);
  const headEnd = `{"v":${PROTOCOL_VERSION},"kind":"end",`;
  // Drop components from the end until the longest possible end datagram fits.
  while (components && Buffer.byteLength(headEnd + body) + END_SUFFIX_RESERVE > MAX_DATAGRAM_BYTES) {
    const keys = Object.keys(components);
    keys.pop();
    components = keys.length > 0 ? Object.fromEntries(keys.map((k) => [k, components![k]!])) : undefined;
    body = identityJson(id, components);
  }
  const startPrefix = `{"v":${PROTOCOL_VERSION},"kind":"start",${body},"t":`;
  const endPrefix = `${headEnd}${body},"t":`;
  return {
    components,
    start: (t) => Buffer.from(`${startPrefix}${Math.trunc(t)}}`),
    end: (t, exit, durMs) => Buffer.from(`${endPrefix}${Math.trunc(t)},"exit":${exit & 255},"dur_ms":${Math.max(0, Math.round(durMs))}}`),
  };
}

/** Encode any message (tests, preview, tools): the same bytes the run encoder produces. */
export function encodeMessage(msg: BeaconMessage): Buffer {
  const enc = createRunEncoder(msg);
  return msg.kind === 'start' ? enc.start(msg.t) : enc.end(msg.t, msg.exit, msg.dur_ms);
}
