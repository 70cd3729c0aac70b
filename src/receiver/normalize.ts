import type { ParslMessage } from '../protocol/parsl.js';
import type { BeaconMessage, Components } from '../protocol/types.js';
import type { IngestRecord } from '../store/types.js';

/**
 * Validated messages → store records. Fields are copied one by one from the validated message;
 * components are re-serialized (bounded by the schema or by the Parsl decoder).
 */

function componentsJson(c: Components | undefined): string | null {
  return c !== undefined && Object.keys(c).length > 0 ? JSON.stringify(c) : null;
}

export function fromNative(m: BeaconMessage, seenMs: number, month: number): IngestRecord {
  const end = m.kind === 'end';
  return {
    run: m.run,
    kind: m.kind,
    project: m.project,
    format: 'native',
    user_id: m.user,
    host_id: m.host,
    script_id: m.script,
    weak_ids: false,
    eph: m.eph === true,
    version: m.version,
    runtime: m.runtime,
    os: m.os,
    arch: m.arch,
    ci: m.ci,
    components: componentsJson(m.components),
    seen_ms: seenMs,
    month,
    client_ms: m.t,
    exit_code: end ? m.exit : null,
    duration_ms: end ? m.dur_ms : null,
    net_tag: null,
  };
}

/** Legacy Parsl uname / hname (10 hex of an unsalted SHA-256) → the collector's keyed ID. */
export type LegacyIdKey = (kind: 'user' | 'host', raw: string) => string;

export function fromParsl(m: ParslMessage, seenMs: number, month: number, legacyId: LegacyIdKey): IngestRecord {
  return {
    run: m.run,
    kind: m.kind,
    project: 'parsl',
    format: m.format,
    // Re-keyed before anything is stored: the raw prefix is dictionary-reversible, the keyed one
    // only with the collector secret (docs/PRIVACY.md).
    user_id: m.user === null ? null : legacyId('user', m.user),
    host_id: m.host === null ? null : legacyId('host', m.host),
    script_id: null,
    // Legacy uname/hname came from an unsalted hash of a name: flagged so reports can tell.
    weak_ids: m.user !== null || m.host !== null,
    eph: false,
    version: m.version,
    runtime: m.runtime,
    os: m.os,
    arch: null,
    ci: null,
    components: componentsJson(m.components),
    seen_ms: seenMs,
    month,
    client_ms: m.clientMs,
    // Parsl never sends an exit code: none is stored rather than one invented.
    exit_code: null,
    duration_ms: m.durationMs,
    net_tag: null,
  };
}
