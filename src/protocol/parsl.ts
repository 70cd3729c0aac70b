import { MAX_COMPONENTS, MAX_LABEL_LENGTH, MAX_PLATFORM_LENGTH } from './limits.js';
import type { Components } from './types.js';

/**
 * Decoder for Parsl's own usage-tracking datagrams (see docs/protocol.md and
 * shared/reference/parsl-wire-formats.md), so a Parsl user can point an existing client at a
 * usage-beacon collector. Two formats exist: legacy plain JSON (`uuid`, `uname`, …) and the
 * `1`-prefixed JSON of releases since March 2024 (`correlator`, …). Both map to one neutral shape.
 *
 * The input is untrusted: every field is type-checked, strings are cleaned and capped, and the
 * result is built only from fields read one by one (never by copying the parsed object).
 */

export type ParslFormat = 'parsl-legacy' | 'parsl-1';

export interface ParslMessage {
  format: ParslFormat;
  kind: 'start' | 'end';
  run: string;
  /** Legacy only: first 10 hex chars of an unsalted SHA-256 (weak, dictionary-reversible). */
  user: string | null;
  host: string | null;
  version: string | null;
  runtime: string | null;
  os: string | null;
  components: Components | undefined;
  /** Client clock, epoch ms (start or end time), when sent. */
  clientMs: number | null;
  /** Format 1 ends carry execution_time; legacy ends don't (the store derives end − start). */
  durationMs: number | null;
}

/** Why a Parsl datagram was refused; the receiver counts it under the matching reject reason. */
export type ParslReject = 'schema' | 'implausible';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WEAK_ID = /^[0-9a-f]{10}$/;
const NOT_LABEL = /[^\x21-\x7e]/g;
const NOT_KEY = /[^a-z0-9_.-]/g;
/** Latest plausible client clock: year 2200, in seconds. Anything later is a broken or hostile value. */
const MAX_EPOCH_S = 7_258_118_400;

function label(v: unknown, max = MAX_LABEL_LENGTH): string | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') return undefined;
  const s = v.replace(NOT_LABEL, '_').slice(0, max);
  return s.length > 0 ? s : null;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function epochMs(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  if (v < 0 || v > MAX_EPOCH_S) return undefined;
  return Math.round(v * 1000);
}

/** `parsl.executors.high_throughput.executor.HighThroughputExecutor` → `highthroughputexecutor`. */
function shortClass(name: string): string {
  const last = name.slice(name.lastIndexOf('.') + 1);
  return last.toLowerCase().replace(NOT_KEY, '_').slice(0, 22);
}

function classOf(c: unknown): string | undefined {
  if (typeof c === 'string') return c;
  if (c !== null && typeof c === 'object' && !Array.isArray(c)) {
    const name = (c as Record<string, unknown>).c;
    if (typeof name === 'string') return name;
  }
  return undefined;
}

/**
 * Format 1 `components`: class names (or `{c: name, …}`) of the configuration, plus on the end the
 * DataFlowKernel's app counts. Kept: apps, app_fails, the number of executors and a count per
 * executor class — bounded to the protocol's component limit.
 */
function mapComponents(list: unknown, out: Components): boolean {
  if (list === undefined || list === null) return true;
  if (!Array.isArray(list)) return false;
  let executors = 0;
  // Counted aside and added last: the DataFlowKernel may come after any number of executor
  // classes, and its counts (and the executor total) must fit the limit before the per-class keys.
  const perClass = new Map<string, number>();
  for (const c of list) {
    const name = classOf(c);
    if (name === undefined) continue;
    if (name === 'parsl.dataflow.dflow.DataFlowKernel' && typeof c === 'object') {
      const o = c as Record<string, unknown>;
      if (o.app_count !== undefined) {
        if (!isCount(o.app_count)) return false;
        out.apps = o.app_count;
      }
      if (o.app_fails !== undefined) {
        if (!isCount(o.app_fails)) return false;
        out.app_fails = o.app_fails;
      }
      continue;
    }
    if (/\.executors\./.test(name) || /Executor$/.test(name)) {
      executors++;
      const key = `executor.${shortClass(name)}`;
      perClass.set(key, (perClass.get(key) ?? 0) + 1);
    }
  }
  if (executors > 0) out.executors = executors;
  // The first classes seen, as many as the protocol's component limit leaves room for.
  let room = MAX_COMPONENTS - Object.keys(out).length;
  for (const [key, n] of perClass) {
    if (room-- <= 0) break;
    out[key] = n;
  }
  return true;
}

function decodeLegacy(o: Record<string, unknown>): ParslMessage | ParslReject {
  const run = o.uuid;
  if (typeof run !== 'string' || !UUID.test(run)) return 'schema';
  const isStart = o.start !== undefined;
  const isEnd = o.end !== undefined;
  if (isStart === isEnd) return 'schema';
  const msg: ParslMessage = {
    format: 'parsl-legacy',
    kind: isStart ? 'start' : 'end',
    run,
    user: null,
    host: null,
    version: null,
    runtime: null,
    os: null,
    components: undefined,
    clientMs: null,
    durationMs: null,
  };
  const t = epochMs(isStart ? o.start : o.end);
  if (t === undefined) return 'implausible';
  msg.clientMs = t;
  if (isStart) {
    for (const [field, key] of [
      ['uname', 'user'],
      ['hname', 'host'],
    ] as const) {
      const v = o[field];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' || !WEAK_ID.test(v)) return 'schema';
      msg[key] = v;
    }
    const version = label(o.parsl_v);
    const python = label(o.python_v, MAX_LABEL_LENGTH - 7);
    const os = label(o.os, MAX_PLATFORM_LENGTH);
    if (version === undefined || python === undefined || os === undefined) return 'schema';
    msg.version = version;
    msg.runtime = python === null ? null : `python/${python}`;
    msg.os = os === null ? null : os.toLowerCase();
  } else {
    const c: Components = {};
    for (const [field, key] of [
      ['t_apps', 'apps'],
      ['failed', 'app_fails'],
      ['sites', 'executors'],
    ] as const) {
      const v = o[field];
      if (v === undefined || v === null) continue;
      if (!isCount(v)) return 'schema';
      c[key] = v;
    }
    if (Object.keys(c).length > 0) msg.components = c;
  }
  return msg;
}

function decodeV1(o: Record<string, unknown>): ParslMessage | ParslReject {
  const run = o.correlator;
  if (typeof run !== 'string' || !UUID.test(run)) return 'schema';
  const isEnd = o.end !== undefined || o.execution_time !== undefined;
  const msg: ParslMessage = {
    format: 'parsl-1',
    kind: isEnd ? 'end' : 'start',
    run,
    user: null,
    host: null,
    version: null,
    runtime: null,
    os: null,
    components: undefined,
    clientMs: null,
    durationMs: null,
  };
  const t = epochMs(isEnd ? o.end : o.start);
  if (t === undefined) return 'implausible';
  msg.clientMs = t;
  const c: Components = {};
  if (isEnd) {
    const et = o.execution_time;
    if (et !== undefined && et !== null) {
      if (typeof et !== 'number' || !Number.isFinite(et)) return 'schema';
      msg.durationMs = Math.round(et * 1000);
    }
  } else {
    const version = label(o.parsl_v);
    const python = label(o.python_v, MAX_LABEL_LENGTH - 7);
    const os = label(o['platform.system'], MAX_PLATFORM_LENGTH);
    if (version === undefined || python === undefined || os === undefined) return 'schema';
    msg.version = version;
    msg.runtime = python === null ? null : `python/${python}`;
    msg.os = os === null ? null : os.toLowerCase();
    const level = o.tracking_level;
    if (level !== undefined) {
      if (level !== 1 && level !== 2 && level !== 3) return 'schema';
      c.tracking_level = level;
    }
  }
  if (o.project_name !== undefined && o.project_name !== null) {
    if (typeof o.project_name !== 'string') return 'schema';
    // The user chose to send it (Parsl documents it as a way to identify a project): kept as a
    // label, cleaned and capped like any other component string.
    const p = label(o.project_name);
    if (p) c.project_name = p;
  }
  if (!mapComponents(o.components, c)) return 'schema';
  if (Object.keys(c).length > 0) msg.components = c;
  return msg;
}

/**
 * Decode an already-parsed Parsl datagram. `prefixed` is true when the datagram began with the
 * ASCII byte `1` (format 1). Returns the reject reason for anything unusable.
 */
export function decodeParsl(value: unknown, prefixed: boolean): ParslMessage | ParslReject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'schema';
  const o = value as Record<string, unknown>;
  return prefixed ? decodeV1(o) : decodeLegacy(o);
}
