import type { IngestRecord } from '../types.js';

/**
 * Pure helpers of the PostgreSQL store's batch write: splitting a batch so no statement touches a
 * run twice, turning records into the column arrays unnest expands, and making components safe
 * for jsonb. No I/O here, so each piece is testable alone.
 */

export interface SplitBatch {
  /** The first datagram of every run in the batch, in arrival order. */
  first: IngestRecord[];
  /** The other kind of a run whose start and end both arrived in this batch (after its first). */
  second: IngestRecord[];
  /** Further copies of a (run, kind) already in the batch: duplicates whatever the store holds. */
  copies: IngestRecord[];
}

const START = 1;
const END = 2;

/**
 * Applying `first` then `second` is the same as applying the records one by one in arrival
 * order (which the SQLite store does): a run's second kind comes after its first, and a copy of
 * an already-seen (run, kind) is a duplicate either way.
 */
export function splitBatch(records: readonly IngestRecord[]): SplitBatch {
  const seen = new Map<string, number>();
  const out: SplitBatch = { first: [], second: [], copies: [] };
  for (const r of records) {
    const bit = r.kind === 'start' ? START : END;
    const kinds = seen.get(r.run);
    if (kinds === undefined) {
      seen.set(r.run, bit);
      out.first.push(r);
    } else if (kinds & bit) {
      out.copies.push(r);
    } else {
      seen.set(r.run, kinds | bit);
      out.second.push(r);
    }
  }
  return out;
}

/** JSON.stringify escapes NUL and lone surrogates as \u0000 / \udXXX; jsonb rejects both. */
const JSONB_UNSAFE = /\\u0000|\\ud[89a-f]/i;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function cleanString(s: string): string {
  // NUL is exactly what jsonb and text refuse, so it is what this looks for.
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u0000/g, '\ufffd').replace(LONE_SURROGATE, '\ufffd');
}

/**
 * Components text as jsonb accepts it. The protocol allows any string value, but jsonb cannot
 * hold U+0000 or a lone surrogate, and one such value would fail the whole batch of accepted runs
 * on every retry. Those characters become U+FFFD; everything else passes through untouched (the
 * common case costs one regex test).
 */
export function jsonbSafe(components: string | null): string | null {
  if (components === null || !JSONB_UNSAFE.test(components)) return components;
  try {
    const parsed = JSON.parse(components) as unknown;
    const clean = (v: unknown): unknown => {
      if (typeof v === 'string') return cleanString(v);
      if (Array.isArray(v)) return v.map(clean);
      if (v !== null && typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v))
          Object.defineProperty(o, cleanString(k), { value: clean(x), enumerable: true, writable: true, configurable: true });
        return o;
      }
      return v;
    };
    return JSON.stringify(clean(parsed));
  } catch {
    // Not JSON at all (never produced by the receiver): store no components rather than fail the batch.
    return null;
  }
}

function flag(b: boolean | null): number | null {
  return b === null ? null : b ? 1 : 0;
}

/** The 21 parameter arrays of the upsert, in its unnest order. */
export class BatchColumns {
  private readonly cols: unknown[][] = Array.from({ length: 21 }, () => []);

  constructor(records: readonly IngestRecord[]) {
    const c = this.cols;
    for (const r of records) {
      const end = r.kind === 'end';
      c[0]!.push(r.run);
      c[1]!.push(r.project);
      c[2]!.push(r.format);
      c[3]!.push(r.user_id);
      c[4]!.push(r.host_id);
      c[5]!.push(r.script_id);
      c[6]!.push(r.weak_ids ? 1 : 0);
      c[7]!.push(r.eph ? 1 : 0);
      c[8]!.push(r.version);
      c[9]!.push(r.runtime);
      c[10]!.push(r.os);
      c[11]!.push(r.arch);
      c[12]!.push(flag(r.ci));
      c[13]!.push(jsonbSafe(r.components));
      c[14]!.push(r.seen_ms);
      c[15]!.push(r.month);
      c[16]!.push(r.client_ms);
      c[17]!.push(end ? r.exit_code : null);
      c[18]!.push(end ? r.duration_ms : null);
      c[19]!.push(end ? 1 : 0);
      c[20]!.push(r.net_tag ?? null);
    }
  }

  values(): unknown[][] {
    return this.cols;
  }
}

/** UTC YYYY-MM-DD of an epoch ms, cached for the current day (records of a batch share it). */
let dayStart = 0;
let dayEnd = 0;
let dayText = '';
export function dayOfMs(ms: number): string {
  if (ms < dayStart || ms >= dayEnd) {
    dayText = new Date(ms).toISOString().slice(0, 10);
    dayStart = Date.parse(`${dayText}T00:00:00Z`);
    dayEnd = dayStart + 86_400_000;
  }
  return dayText;
}
