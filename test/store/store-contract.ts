import { expect } from 'vitest';
import type { CounterDelta, IngestRecord, RunStore, WriteResult } from '../../src/store/types.js';

/**
 * The RunStore contract as a table of scenarios, run against every store (SQLite and
 * PostgreSQL) with the same expectations: batches in, then the `runs` view and `daily_counters`
 * out. Expectations are written from the spec (dedupe by (run, kind), end-before-start, earliest
 * arrival, keep-first identity, merged components, derived legacy durations), not from running a
 * store. A store plugs in through a ContractStore adapter that reads its rows back as plain values.
 */

export interface ContractRun {
  run: string;
  project: string;
  format: string;
  user_id: string | null;
  host_id: string | null;
  script_id: string | null;
  version: string | null;
  runtime: string | null;
  os: string | null;
  arch: string | null;
  ci: number | null;
  first_seen_ms: number;
  month: number;
  exit_code: number | null;
  duration_ms: number | null;
  has_start: number;
  has_end: number;
  eph: number;
  weak_ids: number;
  components: Record<string, unknown> | null;
  start_seen_ms: number | null;
  end_seen_ms: number | null;
}

export interface ContractStore {
  store: RunStore;
  /** Every row of the `runs` view, ordered by run, numbers as numbers, components parsed. */
  runs(): Promise<ContractRun[]>;
  /** Every daily_counters row as `${day}/${name}` → value. */
  counters(): Promise<Record<string, number>>;
  /** Closes the store and removes what the factory created. */
  dispose(): Promise<void>;
}

export type StoreFactory = () => Promise<ContractStore>;

export interface Scenario {
  name: string;
  batches: Array<{ records: IngestRecord[]; counters?: CounterDelta[]; result: WriteResult }>;
  /** Expected fields of every stored run (the store must hold exactly these runs). */
  runs: Array<Partial<ContractRun> & { run: string }>;
  /** Exact daily_counters content. */
  counters: Record<string, number>;
  /** Extra checks a plain expected value cannot state. */
  check?: (runs: ContractRun[]) => void;
}

const T0 = Date.UTC(2026, 2, 10, 12, 0, 0);
const DAY = '2026-03-10';
const R = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ID = (c: string) => c.repeat(32);

function monthOf(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

/** A native record; override any field. `seen_ms` also sets `month`. */
export function rec(kind: 'start' | 'end', run: string, o: Partial<IngestRecord> = {}): IngestRecord {
  const seen = o.seen_ms ?? T0;
  return {
    run,
    kind,
    project: 'demo',
    format: 'native',
    user_id: ID('a'),
    host_id: ID('b'),
    script_id: ID('c'),
    weak_ids: false,
    eph: false,
    version: '1.0',
    runtime: 'node-20',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: null,
    client_ms: seen - 100,
    exit_code: kind === 'end' ? 0 : null,
    duration_ms: kind === 'end' ? 4000 : null,
    ...o,
    seen_ms: seen,
    month: o.month ?? monthOf(seen),
  };
}

function legacy(kind: 'start' | 'end', run: string, clientMs: number, o: Partial<IngestRecord> = {}): IngestRecord {
  return rec(kind, run, {
    project: 'parsl',
    format: 'parsl-legacy',
    user_id: 'aaaaaaaaaa',
    host_id: 'bbbbbbbbbb',
    script_id: null,
    weak_ids: true,
    arch: null,
    ci: null,
    exit_code: null,
    duration_ms: null,
    client_ms: clientMs,
    ...o,
  });
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'a start then its end: one complete run',
    batches: [
      { records: [rec('start', R(1))], result: { stored: 1, duplicates: 0 } },
      { records: [rec('end', R(1), { seen_ms: T0 + 5000, exit_code: 3, duration_ms: 4000 })], result: { stored: 1, duplicates: 0 } },
    ],
    runs: [
      {
        run: R(1),
        has_start: 1,
        has_end: 1,
        exit_code: 3,
        duration_ms: 4000,
        first_seen_ms: T0,
        start_seen_ms: T0,
        end_seen_ms: T0 + 5000,
        month: 202603,
        ci: 0,
        eph: 0,
        weak_ids: 0,
        project: 'demo',
        format: 'native',
        user_id: ID('a'),
      },
    ],
    counters: { [`${DAY}/stored`]: 2 },
  },
  {
    name: 'copies are duplicates, within a batch and across batches; a duplicate changes nothing',
    batches: [
      { records: [rec('start', R(1)), rec('start', R(1), { seen_ms: T0 + 1 })], result: { stored: 1, duplicates: 1 } },
      {
        records: [
          rec('start', R(1), { seen_ms: T0 + 9, version: '9.9' }),
          rec('end', R(1), { seen_ms: T0 + 10 }),
          rec('end', R(1), { seen_ms: T0 + 11, exit_code: 1 }),
        ],
        result: { stored: 1, duplicates: 2 },
      },
    ],
    runs: [{ run: R(1), has_start: 1, has_end: 1, start_seen_ms: T0, end_seen_ms: T0 + 10, exit_code: 0, version: '1.0' }],
    counters: { [`${DAY}/stored`]: 2, [`${DAY}/duplicates`]: 3 },
  },
  {
    name: 'an end before its start creates the run; the start then completes it',
    batches: [
      { records: [rec('end', R(2), { seen_ms: T0, exit_code: 2, duration_ms: 1000 })], result: { stored: 1, duplicates: 0 } },
      { records: [rec('start', R(2), { seen_ms: T0 + 60_000 })], result: { stored: 1, duplicates: 0 } },
      { records: [rec('start', R(2), { seen_ms: T0 + 60_001 }), rec('end', R(2))], result: { stored: 0, duplicates: 2 } },
    ],
    runs: [
      {
        run: R(2),
        has_start: 1,
        has_end: 1,
        first_seen_ms: T0,
        start_seen_ms: T0 + 60_000,
        end_seen_ms: T0,
        exit_code: 2,
        duration_ms: 1000,
      },
    ],
    counters: { [`${DAY}/stored`]: 2, [`${DAY}/duplicates`]: 2 },
  },
  {
    name: 'a run that never ends stays a started run',
    batches: [{ records: [rec('start', R(3))], result: { stored: 1, duplicates: 0 } }],
    runs: [{ run: R(3), has_start: 1, has_end: 0, exit_code: null, duration_ms: null, end_seen_ms: null }],
    counters: { [`${DAY}/stored`]: 1 },
  },
  {
    name: 'start and end of a run in the same batch, in either order, with copies',
    batches: [
      {
        records: [
          rec('start', R(1), { seen_ms: T0 }),
          rec('end', R(1), { seen_ms: T0 + 1, exit_code: 0 }),
          rec('start', R(1), { seen_ms: T0 + 2 }),
          rec('end', R(2), { seen_ms: T0 + 3, exit_code: 5 }),
          rec('start', R(2), { seen_ms: T0 + 4 }),
          rec('end', R(2), { seen_ms: T0 + 5 }),
        ],
        result: { stored: 4, duplicates: 2 },
      },
    ],
    runs: [
      { run: R(1), has_start: 1, has_end: 1, first_seen_ms: T0, start_seen_ms: T0, end_seen_ms: T0 + 1, exit_code: 0 },
      { run: R(2), has_start: 1, has_end: 1, first_seen_ms: T0 + 3, start_seen_ms: T0 + 4, end_seen_ms: T0 + 3, exit_code: 5 },
    ],
    counters: { [`${DAY}/stored`]: 4, [`${DAY}/duplicates`]: 2 },
  },
  {
    name: 'first_seen_ms and month keep the earliest arrival (receivers with different clocks)',
    batches: [
      { records: [rec('end', R(4), { seen_ms: Date.UTC(2026, 3, 1, 0, 0, 1) })], result: { stored: 1, duplicates: 0 } },
      { records: [rec('start', R(4), { seen_ms: Date.UTC(2026, 2, 31, 23, 59, 59) })], result: { stored: 1, duplicates: 0 } },
    ],
    runs: [{ run: R(4), first_seen_ms: Date.UTC(2026, 2, 31, 23, 59, 59), month: 202603, end_seen_ms: Date.UTC(2026, 3, 1, 0, 0, 1) }],
    counters: { '2026-04-01/stored': 1, '2026-03-31/stored': 1 },
  },
  {
    name: 'identity keeps the first non-null value; weak_ids, eph and ci keep any 1',
    batches: [
      { records: [legacy('end', R(5), 5000, { version: '1.0', os: null, runtime: null })], result: { stored: 1, duplicates: 0 } },
      {
        records: [
          rec('start', R(5), {
            seen_ms: T0 + 1,
            format: 'native',
            project: 'other',
            version: '2.0',
            os: 'darwin',
            runtime: 'py-3.12',
            eph: true,
            weak_ids: false,
            ci: true,
            script_id: ID('d'),
          }),
        ],
        result: { stored: 1, duplicates: 0 },
      },
    ],
    runs: [
      {
        run: R(5),
        project: 'parsl',
        format: 'parsl-legacy',
        version: '1.0',
        os: 'darwin',
        runtime: 'py-3.12',
        user_id: 'aaaaaaaaaa',
        script_id: ID('d'),
        weak_ids: 1,
        eph: 1,
        ci: 1,
        arch: 'x64',
      },
    ],
    counters: { [`${DAY}/stored`]: 2 },
  },
  {
    name: 'components of start and end merge; the later datagram wins a shared key',
    batches: [
      {
        records: [
          rec('start', R(1), { components: '{"a":1,"b":"x"}' }),
          rec('end', R(2), { components: '{"b":"y","c":2}' }),
          rec('start', R(3), { components: '{"a":1}' }),
          rec('end', R(3), { seen_ms: T0 + 1 }),
        ],
        result: { stored: 4, duplicates: 0 },
      },
      {
        records: [
          rec('end', R(1), { seen_ms: T0 + 5, components: '{"b":"y","c":2}' }),
          rec('start', R(2), { seen_ms: T0 + 5, components: '{"a":1,"b":"x"}' }),
        ],
        result: { stored: 2, duplicates: 0 },
      },
    ],
    runs: [
      { run: R(1), components: { a: 1, b: 'y', c: 2 } },
      { run: R(2), components: { a: 1, b: 'x', c: 2 } },
      { run: R(3), components: { a: 1 } },
    ],
    counters: { [`${DAY}/stored`]: 6 },
  },
  {
    name: 'legacy Parsl ends without a duration get end − start from the client clocks, when plausible',
    batches: [
      {
        records: [
          legacy('start', R(1), 1_000_000),
          legacy('end', R(2), 1_060_000),
          legacy('start', R(3), 2_000_000),
          legacy('start', R(4), 1_000_000),
          legacy('end', R(4), 1_060_000, { seen_ms: T0 + 1 }),
          legacy('start', R(5), 1_000_000),
        ],
        result: { stored: 6, duplicates: 0 },
      },
      {
        records: [
          legacy('end', R(1), 1_060_000, { seen_ms: T0 + 9 }),
          legacy('start', R(2), 1_000_000, { seen_ms: T0 + 9 }),
          legacy('end', R(3), 1_999_000, { seen_ms: T0 + 9 }),
          legacy('end', R(5), 9_000_000, { seen_ms: T0 + 9, duration_ms: 5000 }),
        ],
        result: { stored: 4, duplicates: 0 },
      },
    ],
    runs: [
      { run: R(1), duration_ms: 60_000, exit_code: null, has_end: 1 },
      { run: R(2), duration_ms: 60_000, has_start: 1, has_end: 1 },
      { run: R(3), duration_ms: null, has_end: 1 },
      { run: R(4), duration_ms: 60_000 },
      { run: R(5), duration_ms: 5000 },
    ],
    counters: { [`${DAY}/stored`]: 10 },
  },
  {
    name: 'counter increments add up per day and name, next to stored and duplicates',
    batches: [
      { records: [], counters: [{ day: DAY, counts: { received: 5, 'rejected.not_json': 2 } }], result: { stored: 0, duplicates: 0 } },
      {
        records: [rec('start', R(1)), rec('start', R(2), { seen_ms: T0 + 86_400_000 }), rec('start', R(2), { seen_ms: T0 + 86_400_001 })],
        counters: [
          { day: DAY, counts: { received: 3 } },
          { day: '2026-03-11', counts: { received: 2, kernel_drops: 0 } },
        ],
        result: { stored: 2, duplicates: 1 },
      },
    ],
    runs: [{ run: R(1) }, { run: R(2), month: 202603 }],
    counters: {
      [`${DAY}/received`]: 8,
      [`${DAY}/rejected.not_json`]: 2,
      [`${DAY}/stored`]: 1,
      '2026-03-11/received': 2,
      '2026-03-11/stored': 1,
      '2026-03-11/duplicates': 1,
    },
  },
  {
    name: 'a hostile component string (U+0000, lone surrogate) never fails the batch',
    batches: [
      {
        records: [rec('start', R(1), { components: JSON.stringify({ k: 'a\u0000b', s: 'x\ud800y', n: 1 }) }), rec('start', R(2))],
        result: { stored: 2, duplicates: 0 },
      },
    ],
    runs: [{ run: R(1) }, { run: R(2) }],
    counters: { [`${DAY}/stored`]: 2 },
    check: (runs) => {
      const c = runs[0]!.components!;
      // Each store keeps what its column type can hold; what matters is that the run is stored.
      expect(typeof c.k).toBe('string');
      expect(String(c.k)).toMatch(/^a.b$/u);
      expect(c.n).toBe(1);
    },
  },
];

/** Runs one scenario on a fresh store and returns what the store holds afterwards. */
export async function playScenario(
  factory: StoreFactory,
  s: Scenario,
): Promise<{ results: WriteResult[]; runs: ContractRun[]; counters: Record<string, number> }> {
  const cs = await factory();
  try {
    const results: WriteResult[] = [];
    for (const b of s.batches) results.push(await cs.store.writeBatch(b.records, b.counters ?? []));
    return { results, runs: await cs.runs(), counters: await cs.counters() };
  } finally {
    await cs.dispose();
  }
}

/** The assertions of one scenario (call inside an `it`). */
export async function checkScenario(factory: StoreFactory, s: Scenario): Promise<void> {
  const got = await playScenario(factory, s);
  expect(got.results).toEqual(s.batches.map((b) => b.result));
  expect(got.runs.map((r) => r.run)).toEqual(s.runs.map((r) => r.run).sort());
  for (const want of s.runs) expect(got.runs.find((r) => r.run === want.run)).toMatchObject(want);
  expect(got.counters).toEqual(s.counters);
  s.check?.(got.runs);
}
