import { Ajv } from 'ajv';
import { loadProtocolSchema } from '../../../src/protocol/schema.js';
import { MAX_PLAUSIBLE_DURATION_MS, RECEIVER_MAX_BYTES } from '../../../src/protocol/limits.js';
import type { RejectReason } from '../../../src/protocol/reject-reasons.js';
import type { IngestRecord } from '../../../src/store/types.js';
import { jsonbSafe } from '../../../src/store/postgres/batch.js';
import { secretFromKey } from '../../../src/receiver/collector-secret.js';

/** The secret the fuzzed classifier re-keys legacy IDs with; the oracle checks the keyed form. */
export const TEST_SECRET = secretFromKey(Buffer.alloc(32, 0x5a));

/**
 * The reference the fuzz compares the receiver against, written from the documents, not from the
 * receiver's code: strict UTF-8 (WHATWG TextDecoder, fatal), JSON.parse, a second Ajv instance
 * with every error collected, and the plausibility rules of docs/protocol.md. For the two Parsl
 * formats, which have no JSON Schema, the reference is the store contract the native schema
 * implies (labels, platform strings, components) plus the field mapping of docs/protocol.md.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const schema = loadProtocolSchema();
const validNative = ajv.compile(schema);
const defs = schema.definitions as Record<string, object>;
const props = schema.properties as Record<string, object>;
const isLabel = ajv.compile(defs.label!);
const isPlatform = ajv.compile(defs.platform!);
const isComponents = ajv.compile(props.components!);
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type Parsed =
  | { kind: 'reject'; reason: RejectReason }
  | { kind: 'native'; value: Record<string, unknown> }
  | { kind: 'parsl-legacy' | 'parsl-1'; value: unknown };

/** Bytes → what the protocol says they are, before any field is judged. */
export function referenceParse(bytes: Uint8Array): Parsed {
  if (bytes.length > RECEIVER_MAX_BYTES) return { kind: 'reject', reason: 'oversized' };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { kind: 'reject', reason: 'not_json' };
  }
  const prefixed = bytes[0] === 0x31 && bytes[1] === 0x7b;
  let value: unknown;
  try {
    value = JSON.parse(prefixed ? text.slice(1) : text);
  } catch {
    return { kind: 'reject', reason: 'not_json' };
  }
  if (prefixed) return { kind: 'parsl-1', value };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'reject', reason: 'unknown_protocol' };
  const o = value as Record<string, unknown>;
  if (Object.hasOwn(o, 'v')) return o.v === 1 ? { kind: 'native', value: o } : { kind: 'reject', reason: 'unknown_protocol' };
  if (Object.hasOwn(o, 'uuid')) return { kind: 'parsl-legacy', value: o };
  return { kind: 'reject', reason: 'unknown_protocol' };
}

const safeCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Native verdict: schema first, then the documented plausibility bounds, in that order. */
export function referenceNative(o: Record<string, unknown>): true | RejectReason {
  if (!validNative(o)) return 'schema';
  if (!safeCount(o.t)) return 'implausible';
  if (o.kind === 'end' && !(safeCount(o.dur_ms) && (o.dur_ms as number) <= MAX_PLAUSIBLE_DURATION_MS)) return 'implausible';
  return componentsVerdict(o.components);
}

function componentsVerdict(c: unknown): true | RejectReason {
  if (c === undefined) return true;
  for (const [k, v] of Object.entries(c as object)) {
    if (FORBIDDEN.has(k)) return 'schema';
    if (typeof v === 'number' && !(Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER)) return 'implausible';
  }
  return true;
}

// U+0000 is exactly what this looks for.
// eslint-disable-next-line no-control-regex
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\u0000/;
/** PostgreSQL's jsonb refuses U+0000 and lone surrogates anywhere in a key or a string. */
function hasJsonbUnsafe(v: unknown): boolean {
  if (typeof v === 'string') return LONE.test(v);
  if (Array.isArray(v)) return v.some(hasJsonbUnsafe);
  if (v !== null && typeof v === 'object') return Object.entries(v).some(([k, x]) => LONE.test(k) || hasJsonbUnsafe(x));
  return false;
}

/** Problems with an accepted record: anything here means the receiver stored what it must not. */
export function recordProblems(r: IngestRecord, parsed: Parsed): string[] {
  const bad: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) bad.push(what);
  };
  need(parsed.kind !== 'reject', 'accepted what the reference rejects at decode');
  need(r.format === parsed.kind, `format ${r.format} for a ${parsed.kind} datagram`);
  need(UUID.test(r.run), 'run is not a lowercase UUID');
  for (const f of ['version', 'runtime', 'project'] as const) need(r[f] === null || isLabel(r[f]), `${f} is not a label`);
  for (const f of ['os', 'arch'] as const) need(r[f] === null || isPlatform(r[f]), `${f} is not a platform string`);
  need(r.client_ms === null || safeCount(r.client_ms), 'client_ms out of range');
  need(r.duration_ms === null || (safeCount(r.duration_ms) && r.duration_ms <= MAX_PLAUSIBLE_DURATION_MS), 'duration_ms out of range');
  need(r.exit_code === null || (Number.isInteger(r.exit_code) && r.exit_code >= 0 && r.exit_code <= 255), 'exit_code out of range');
  if (r.components !== null) {
    let c: unknown;
    try {
      c = JSON.parse(r.components);
    } catch {
      c = undefined;
    }
    need(c !== undefined && isComponents(c) && componentsVerdict(c) === true, 'components break the schema');
    need(!hasJsonbUnsafe(JSON.parse(jsonbSafe(r.components) ?? 'null')), 'components not storable as jsonb');
  }
  if (parsed.kind === 'native') {
    const m = parsed.value;
    need(referenceNative(m) === true, 'accepted a native datagram the schema or plausibility rules reject');
    for (const [f, k] of [
      ['run', 'run'],
      ['kind', 'kind'],
      ['project', 'project'],
      ['user_id', 'user'],
      ['host_id', 'host'],
      ['script_id', 'script'],
      ['version', 'version'],
      ['runtime', 'runtime'],
      ['os', 'os'],
      ['arch', 'arch'],
      ['ci', 'ci'],
      ['client_ms', 't'],
    ] as const) {
      need(r[f] === m[k], `${f} differs from the datagram's ${k}`);
    }
    need(r.eph === (m.eph === true) && r.weak_ids === false, 'eph / weak_ids');
    need(r.exit_code === (m.kind === 'end' ? m.exit : null) && r.duration_ms === (m.kind === 'end' ? m.dur_ms : null), 'exit / dur_ms');
    const c = m.components as object | undefined;
    need(r.components === (c && Object.keys(c).length > 0 ? JSON.stringify(c) : null), 'components differ from the datagram');
  } else if (parsed.kind !== 'reject') {
    const o = parsed.value as Record<string, unknown>;
    const legacy = parsed.kind === 'parsl-legacy';
    need(r.run === (legacy ? o.uuid : o.correlator), 'run differs from uuid / correlator');
    need(
      r.project === 'parsl' && r.script_id === null && r.arch === null && r.ci === null && r.eph === false && r.exit_code === null,
      'Parsl constants',
    );
    if (legacy) {
      need(r.kind === (o.start !== undefined ? 'start' : 'end'), 'legacy kind');
      // Never the raw, dictionary-reversible prefix: the keyed form of exactly the sent value.
      const keyed = (kind: 'user' | 'host', v: unknown) =>
        typeof v === 'string' && /^[0-9a-f]{10}$/.test(v) ? TEST_SECRET.legacyId(kind, v) : null;
      need(r.user_id === keyed('user', o.start !== undefined ? o.uname : undefined), 'legacy user ID is not the keyed uname');
      need(r.host_id === keyed('host', o.start !== undefined ? o.hname : undefined), 'legacy host ID is not the keyed hname');
      need(r.weak_ids === (r.user_id !== null || r.host_id !== null), 'weak_ids');
    } else {
      need(r.user_id === null && r.host_id === null && !r.weak_ids, 'format 1 carries no IDs');
      need(r.kind === (o.end !== undefined || o.execution_time !== undefined ? 'end' : 'start'), 'format 1 kind');
    }
  }
  return bad;
}

/** For a datagram built to the Parsl reference: the fields it must map to (docs/protocol.md). */
export function parslMappingProblems(r: IngestRecord, o: Record<string, unknown>, legacy: boolean): string[] {
  const bad: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) bad.push(what);
  };
  const clean = (s: unknown, max: number) => (typeof s === 'string' ? s.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || null : null);
  const isStart = legacy ? o.start !== undefined : o.end === undefined;
  const t = isStart ? o.start : o.end;
  need(r.client_ms === (t === undefined ? null : Math.round((t as number) * 1000)), 'client_ms is not the start / end time');
  const c = r.components === null ? {} : (JSON.parse(r.components) as Record<string, unknown>);
  if (isStart) {
    need(r.version === clean(o.parsl_v, 64), 'version is not parsl_v');
    const py = clean(o.python_v, 57);
    need(r.runtime === (py === null ? null : `python/${py}`), 'runtime is not python/<python_v>');
    const os = clean(legacy ? o.os : o['platform.system'], 32);
    need(r.os === (os === null ? null : os.toLowerCase()), 'os');
    if (legacy)
      need(
        r.user_id === TEST_SECRET.legacyId('user', o.uname as string) && r.host_id === TEST_SECRET.legacyId('host', o.hname as string),
        'uname / hname',
      );
    else need(c.tracking_level === o.tracking_level, 'tracking_level');
  } else if (legacy) {
    need(c.apps === o.t_apps && c.app_fails === o.failed && c.executors === o.sites, 't_apps / failed / sites');
  } else {
    const k = (o.components as Array<Record<string, unknown>>).find((x) => x?.c === 'parsl.dataflow.dflow.DataFlowKernel')!;
    need(c.apps === k.app_count && c.app_fails === k.app_fails, 'app_count / app_fails');
    need(r.duration_ms === (o.execution_time as number) * 1000, 'execution_time');
  }
  if (!legacy && typeof o.project_name === 'string') need(c.project_name === (clean(o.project_name, 64) ?? undefined), 'project_name');
  return bad;
}
