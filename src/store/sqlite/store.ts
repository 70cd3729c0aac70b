import BetterSqlite3 from 'better-sqlite3';
import type { Database, Statement } from 'better-sqlite3';
import { BeaconError } from '../../errors.js';
import { MAX_PLAUSIBLE_DURATION_MS } from '../../protocol/limits.js';
import type { CounterName } from '../counters.js';
import { migrateSqlite } from './migrate.js';
import type { CounterDelta, IngestRecord, RunStore, WriteResult } from '../types.js';
import { walLimitBytes, WalBound } from './wal-bound.js';

/**
 * The embedded default store. Dedupe is the primary key: a start (or end) upserts the run's row
 * only while its has_start (has_end) flag is 0, so a copy of an already stored datagram changes
 * nothing and `changes` tells the two apart. Identity fields keep the first non-null value;
 * first_seen_ms / month keep the earliest arrival; components of start and end are merged
 * (Parsl sends configuration in the start and app counts in the end).
 *
 * WAL with synchronous=NORMAL: a commit survives a crash of this process (kill -9) at once; after
 * a power loss or OS crash the last commits before the last WAL sync may be lost, but the database
 * stays consistent. See docs/storage.md.
 */

const IDENTITY = ['project', 'user_id', 'host_id', 'script_id', 'version', 'runtime', 'os', 'arch', 'ci'] as const;
const KEEP_FIRST = IDENTITY.filter((c) => c !== 'project')
  .map((c) => `${c} = coalesce(run_facts.${c}, excluded.${c})`)
  .join(',\n  ');

const MERGE_IN_PLACE = `
  weak_ids = max(run_facts.weak_ids, excluded.weak_ids),
  eph = max(run_facts.eph, excluded.eph),
  components = CASE WHEN run_facts.components IS NULL THEN excluded.components
                    WHEN excluded.components IS NULL THEN run_facts.components
                    ELSE json_patch(run_facts.components, excluded.components) END,
  net_tag = coalesce(run_facts.net_tag, excluded.net_tag),
  ${KEEP_FIRST}`;

// SET expressions all read the old row, so moved_from sees the month before this assignment.
const MOVE = `
  month = CASE WHEN excluded.first_seen_ms < run_facts.first_seen_ms THEN excluded.month ELSE run_facts.month END,
  first_seen_ms = min(run_facts.first_seen_ms, excluded.first_seen_ms),
  moved_from = CASE WHEN excluded.first_seen_ms < run_facts.first_seen_ms AND excluded.month <> run_facts.month
                 THEN run_facts.month END`;

/**
 * Each upsert comes in two forms. The one tried first (IN_PLACE) handles what nearly every
 * datagram is: a new run, or the other half of a stored run arriving after its first datagram,
 * with the same month, project and user. It leaves month and first_seen_ms alone, and an UPDATE
 * that names no column of run_facts_month does not delete and re-insert the row's entry in that
 * index (measured ~0.5–1 µs of the ~12 µs a stored datagram costs the store); and the row it
 * leaves has the record's month, project and user, so the store need not read it back. When it
 * changes nothing (a copy; a datagram that arrived before the stored one, so the run may move to
 * an earlier month; a half with another month, project or user) the full form runs and decides.
 */
const IN_PLACE = `
  AND excluded.first_seen_ms >= run_facts.first_seen_ms
  AND run_facts.month = excluded.month AND run_facts.project = excluded.project AND run_facts.user_id IS excluded.user_id`;

function upsert(kind: 'start' | 'end', inPlace: boolean): string {
  const has = kind === 'start' ? 'has_start' : 'has_end';
  const other = kind === 'start' ? 'has_end' : 'has_start';
  const values =
    kind === 'start'
      ? `start_seen_ms, client_start_ms, has_start, net_tag)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`
      : `end_seen_ms, client_end_ms, exit_code, duration_ms, has_end, net_tag)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`;
  const own =
    kind === 'start'
      ? `start_seen_ms = excluded.start_seen_ms,
  client_start_ms = excluded.client_start_ms,
  duration_ms = coalesce(run_facts.duration_ms, ${derived('run_facts.client_end_ms', 'excluded.client_start_ms')}),`
      : `end_seen_ms = excluded.end_seen_ms,
  client_end_ms = excluded.client_end_ms,
  exit_code = excluded.exit_code,
  duration_ms = coalesce(excluded.duration_ms, ${derived('excluded.client_end_ms', 'run_facts.client_start_ms')}),`;
  return `
INSERT INTO run_facts (${COLUMNS}, ${values}
ON CONFLICT (run) DO UPDATE SET
  ${has} = 1,
  ${own}
  settled_seq = CASE WHEN run_facts.${other} = 1 THEN ? END,
  ${MERGE_IN_PLACE},
  ${inPlace ? 'moved_from = NULL' : MOVE}
WHERE run_facts.${has} = 0${inPlace ? IN_PLACE : ''}`;
}

const COLUMNS = `run, project, format, ${IDENTITY.slice(1).join(', ')}, weak_ids, eph, components, first_seen_ms, month`;

/** Legacy Parsl ends carry no duration: derive end − start from the client clocks when plausible. */
function derived(endMs: string, startMs: string): string {
  return `CASE WHEN ${endMs} - ${startMs} BETWEEN 0 AND ${MAX_PLAUSIBLE_DURATION_MS} THEN ${endMs} - ${startMs} END`;
}

export const UPSERT_START = upsert('start', false);
export const UPSERT_END = upsert('end', false);
const UPSERT_START_IN_PLACE = upsert('start', true);
const UPSERT_END_IN_PLACE = upsert('end', true);

// RETURNING on the upserts would be simpler, but it measured ~6 µs per row more (SQLite buffers
// the returned rows and journals the statement); a point lookup by primary key after an update
// is far cheaper, and inserts need none.
const ROW_OF_RUN = 'SELECT month, project, user_id, moved_from FROM run_facts WHERE run = ?';

const NEXT_SEQ = 'UPDATE write_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq';

const ADD_MONTH_CHANGES = `
INSERT INTO report_month_changes (month, changes) VALUES (?, ?)
ON CONFLICT (month) DO UPDATE SET changes = changes + excluded.changes`;

const FIRST_MONTH = `
INSERT INTO user_first_month (project, user_id, month) VALUES (?, ?, ?)
ON CONFLICT (project, user_id) DO UPDATE SET month = excluded.month WHERE excluded.month < user_first_month.month`;

/** Users whose first month this store is known to hold: most batches then write no first month. */
const KNOWN_USERS_MAX = 500_000;

const ADD_COUNTER = `
INSERT INTO daily_counters (day, name, value) VALUES (?, ?, ?)
ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value`;

function byRun(a: IngestRecord, b: IngestRecord): number {
  return a.run < b.run ? -1 : a.run > b.run ? 1 : 0;
}

/** Positions that fit below a run prefix in one exactly represented double (2^20 · 2^32 < 2^53). */
const INDEX_BITS = 2 ** 20;

/**
 * The records ordered by four characters of their run: the first four after the prefix all runs
 * of the batch share (a UUIDv7's clock bits; a sender's fixed prefix), arrival order within equal
 * keys (so a run's start and end keep theirs). What the order buys is locality in the primary-key
 * index, for which 32 bits past the common prefix are plenty; as numbers in a Float64Array they
 * are sorted natively, where a comparator over the strings cost ~7% of the store thread's CPU.
 */
function byRunPrefix(records: readonly IngestRecord[]): IngestRecord[] {
  const n = records.length;
  if (n >= INDEX_BITS) return [...records].sort(byRun);
  const first = records[0]!.run;
  let common = first.length;
  for (let i = 1; i < n && common > 0; i++) {
    const run = records[i]!.run;
    let j = 0;
    const m = Math.min(common, run.length);
    while (j < m && run.charCodeAt(j) === first.charCodeAt(j)) j++;
    common = j;
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const run = records[i]!.run;
    let p = 0;
    // Past the end of a short run, charCodeAt is NaN: 0, so it sorts first as a string would.
    for (let j = common; j < common + 4; j++) p = p * 256 + Math.min(255, run.charCodeAt(j) || 0);
    keys[i] = p * INDEX_BITS + i;
  }
  keys.sort();
  const out = new Array<IngestRecord>(n);
  for (let i = 0; i < n; i++) out[i] = records[keys[i]! % INDEX_BITS]!;
  return out;
}

function bool(b: boolean | null): number | null {
  return b === null ? null : b ? 1 : 0;
}

/** UTC YYYY-MM-DD of an epoch ms, cached for the current day (records of a batch share it). */
class DayOf {
  private start = 0;
  private end = 0;
  private day = '';
  get(ms: number): string {
    if (ms < this.start || ms >= this.end) {
      this.day = new Date(ms).toISOString().slice(0, 10);
      this.start = Date.parse(`${this.day}T00:00:00Z`);
      this.end = this.start + 86_400_000;
    }
    return this.day;
  }
}

/** A place in an intake log: a segment and a byte offset in it. */
export interface IntakePosition {
  segment: number;
  offset: number;
}

/** What SqliteStore.mergeIntake passes to its transaction. */
type MergeArgs = [
  records: readonly IngestRecord[],
  counters: readonly CounterDelta[],
  owner: string,
  from: IntakePosition | undefined,
  to: IntakePosition,
  done: boolean,
];

/** How far one intake log has been merged: its owner directory, position, and whether it is done. */
export interface IntakeMark extends IntakePosition {
  owner: string;
  done: boolean;
}

interface Stored {
  month: number;
  project: string;
  user_id: string | null;
  moved_from?: number | null;
}

export class SqliteStore implements RunStore {
  readonly kind = 'sqlite' as const;
  private readonly startStmt: Statement;
  private readonly endStmt: Statement;
  private readonly startInPlaceStmt: Statement;
  private readonly endInPlaceStmt: Statement;
  private readonly counterStmt: Statement;
  private readonly seqStmt: Statement;
  private readonly rowStmt: Statement;
  private readonly lastIdStmt: Statement;
  private readonly monthChangesStmt: Statement;
  private readonly firstMonthStmt: Statement;
  private readonly write: (records: readonly IngestRecord[], counters: readonly CounterDelta[]) => WriteResult;
  private readonly merge: (...args: MergeArgs) => WriteResult;
  private readonly dayOf = new DayOf();
  private readonly args: unknown[] = new Array(22);
  /** project NUL user → the first month user_first_month is known to hold (or an earlier one). */
  private readonly knownFirst = new Map<string, number>();

  /** Set by openSqliteStore: keeps the write-ahead log under its limit (src/store/sqlite/wal-bound.ts). */
  wal: WalBound | undefined;

  constructor(readonly db: Database) {
    this.startStmt = db.prepare(UPSERT_START);
    this.endStmt = db.prepare(UPSERT_END);
    this.startInPlaceStmt = db.prepare(UPSERT_START_IN_PLACE);
    this.endInPlaceStmt = db.prepare(UPSERT_END_IN_PLACE);
    this.counterStmt = db.prepare(ADD_COUNTER);
    this.seqStmt = db.prepare(NEXT_SEQ).pluck();
    this.lastIdStmt = db.prepare('SELECT last_insert_rowid()').pluck();
    this.rowStmt = db.prepare(ROW_OF_RUN);
    this.monthChangesStmt = db.prepare(ADD_MONTH_CHANGES);
    this.firstMonthStmt = db.prepare(FIRST_MONTH);
    // better-sqlite3's transaction variants are plain functions bound to their transaction.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    this.write = db.transaction((records: readonly IngestRecord[], counters: readonly CounterDelta[]) =>
      this.apply(records, counters),
    ).immediate;
    const markStmt = db.prepare(
      `INSERT INTO intake_merged (owner, segment, offset, done_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (owner) DO UPDATE SET segment = excluded.segment, offset = excluded.offset, done_ms = excluded.done_ms`,
    );
    const markOf = db.prepare('SELECT segment, offset, done_ms FROM intake_merged WHERE owner = ?');
    // eslint-disable-next-line @typescript-eslint/unbound-method
    this.merge = db.transaction((...[records, counters, owner, from, to, done]: MergeArgs) => {
      const at = markOf.get(owner) as (IntakePosition & { done_ms: number | null }) | undefined;
      if (
        (at === undefined) !== (from === undefined) ||
        (at && (at.done_ms !== null || at.segment !== from!.segment || at.offset !== from!.offset))
      )
        throw Object.assign(new Error(`intake log ${owner} is being merged by another process`), { code: 'BEACON_INTAKE_RACE' });
      const r = this.apply(records, counters);
      markStmt.run(owner, to.segment, to.offset, done ? Date.now() : null);
      return r;
    }).immediate;
  }

  writeBatch(records: readonly IngestRecord[], counters: readonly CounterDelta[]): Promise<WriteResult> {
    try {
      this.wal?.beforeWrite();
      const r = this.write(records, counters);
      this.wal?.tick();
      return Promise.resolve(r);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /**
   * Merges frames of an intake log (src/store/sqlite/intake-log.ts): the records and counters, and
   * the log's new merge position `to`, in one transaction, so a frame is merged exactly once.
   * `from` is the position the caller read from (undefined: the log's start): if the store holds
   * another (a second receiver adopted the same log and merged first), nothing is written and the
   * error's code is BEACON_INTAKE_RACE. `done`: these are the log's last frames.
   */
  mergeIntake(
    records: readonly IngestRecord[],
    counters: readonly CounterDelta[],
    owner: string,
    from: IntakePosition | undefined,
    to: IntakePosition,
    done = false,
  ): WriteResult {
    this.wal?.beforeWrite();
    const r = this.merge(records, counters, owner, from, to, done);
    this.wal?.tick();
    return r;
  }

  /** Marks a log of a receiver that is gone as merged to its end (no frames left to merge with it). */
  finishIntake(owner: string, at: IntakePosition | undefined): void {
    this.merge([], [], owner, at, at ?? { segment: 0, offset: 0 }, true);
  }

  /** Every intake log's merge position. */
  intakeMarks(): Map<string, IntakeMark> {
    const rows = this.db.prepare('SELECT owner, segment, offset, done_ms FROM intake_merged').all() as Array<
      IntakePosition & { owner: string; done_ms: number | null }
    >;
    return new Map(rows.map((m) => [m.owner, { owner: m.owner, segment: m.segment, offset: m.offset, done: m.done_ms !== null }]));
  }

  /** Forgets logs merged to their end more than a week ago (their directories are long gone). */
  forgetFinishedIntakes(now = Date.now()): void {
    this.db.prepare('DELETE FROM intake_merged WHERE done_ms < ?').run(now - 7 * 86_400_000);
  }

  private apply(records: readonly IngestRecord[], counters: readonly CounterDelta[]): WriteResult {
    const perDay = new Map<string, { stored: number; duplicates: number }>();
    const monthChanges = new Map<number, number>();
    const firstMonths = new Map<string, Stored>();
    let stored = 0;
    // The sequence of this write: runs completed by it are "settled" at it (src/store/sqlite/settle.ts).
    const seq = records.length > 0 ? (this.seqStmt.get() as number) : 0;
    // Sorted by run (stable: a run's start and end keep their arrival order), the inserts walk the
    // primary-key index in order: fewer distinct pages touched per batch (measured ~15% cheaper).
    const sorted = records.length > 1 ? byRunPrefix(records) : records;
    // An upsert that inserted moves the connection's last_insert_rowid; one that updated leaves it.
    let lastId = Number(this.lastIdStmt.get());
    let lastDay = '';
    let counts: { stored: number; duplicates: number } | undefined;
    let lastUser: string | null = null;
    let lastProject = '';
    let lastMonth = 0;
    for (const r of sorted) {
      const a = this.args;
      a[0] = r.run;
      a[1] = r.project;
      a[2] = r.format;
      a[3] = r.user_id;
      a[4] = r.host_id;
      a[5] = r.script_id;
      a[6] = r.version;
      a[7] = r.runtime;
      a[8] = r.os;
      a[9] = r.arch;
      a[10] = bool(r.ci);
      a[11] = r.weak_ids ? 1 : 0;
      a[12] = r.eph ? 1 : 0;
      a[13] = r.components;
      a[14] = r.seen_ms;
      a[15] = r.month;
      a[16] = r.seen_ms;
      a[17] = r.client_ms;
      let info: { changes: number; lastInsertRowid: number | bigint };
      let inPlace = false;
      if (r.kind === 'start') {
        a.length = 20;
        a[18] = r.net_tag ?? null;
        a[19] = seq;
        info = this.startInPlaceStmt.run(...a);
        if (info.changes === 0) info = this.startStmt.run(...a);
        else inPlace = true;
      } else {
        a.length = 22;
        a[18] = r.exit_code;
        a[19] = r.duration_ms;
        a[20] = r.net_tag ?? null;
        a[21] = seq;
        info = this.endInPlaceStmt.run(...a);
        if (info.changes === 0) info = this.endStmt.run(...a);
        else inPlace = true;
      }
      // A new row has exactly the record's month, project and user, and so has a row the in-place
      // form updated (its WHERE asks for them); a row the full form updated is looked up. (An
      // insert that reused the last rowid after a delete is looked up too: still right.)
      let row: Stored | undefined;
      if (info.changes > 0) {
        const id = Number(info.lastInsertRowid);
        if (inPlace) {
          lastId = id;
          row = r;
        } else if (id !== lastId) {
          lastId = id;
          row = r;
        } else {
          row = this.rowStmt.get(r.run) as Stored;
        }
      }
      const day = this.dayOf.get(r.seen_ms);
      // Records of a batch nearly all share a day: the last one's counts are kept at hand.
      if (day !== lastDay) {
        lastDay = day;
        counts = perDay.get(day);
        if (counts === undefined) perDay.set(day, (counts = { stored: 0, duplicates: 0 }));
      }
      if (row === undefined) {
        counts!.duplicates++;
        continue;
      }
      counts!.stored++;
      stored++;
      // What v2's per-row triggers did, once per batch (schema v4 explains why): every stored
      // datagram counts as a change of its run's month, and of the month it left if it moved;
      // the run's user may have a new first month.
      monthChanges.set(row.month, (monthChanges.get(row.month) ?? 0) + 1);
      if (row.moved_from != null) monthChanges.set(row.moved_from, (monthChanges.get(row.moved_from) ?? 0) + 1);
      if (row.user_id !== null) {
        // A user's runs come in streaks: the same user as the row before, in no earlier month,
        // can change nothing (the month recorded for them is already that month or earlier).
        if (row.user_id === lastUser && row.project === lastProject && row.month >= lastMonth) continue;
        const key = `${row.project}\0${row.user_id}`;
        const known = this.knownFirst.get(key);
        const f = firstMonths.get(key);
        if ((known === undefined || known > row.month) && (f === undefined || row.month < f.month)) firstMonths.set(key, row);
        lastUser = row.user_id;
        lastProject = row.project;
        lastMonth = Math.min(row.month, known ?? Infinity, firstMonths.get(key)?.month ?? Infinity);
      }
    }
    for (const [month, n] of monthChanges) this.monthChangesStmt.run(month, n);
    if (firstMonths.size > 0) {
      if (this.knownFirst.size + firstMonths.size > KNOWN_USERS_MAX) this.knownFirst.clear();
      for (const [key, f] of firstMonths) {
        this.firstMonthStmt.run(f.project, f.user_id, f.month);
        this.knownFirst.set(key, f.month);
      }
    }
    for (const [day, d] of perDay) {
      if (d.stored) this.counterStmt.run(day, 'stored', d.stored);
      if (d.duplicates) this.counterStmt.run(day, 'duplicates', d.duplicates);
    }
    for (const c of counters) {
      for (const [name, value] of Object.entries(c.counts) as [CounterName, number][]) {
        if (value) this.counterStmt.run(c.day, name, value);
      }
    }
    return { stored, duplicates: records.length - stored };
  }
}

/** Open (creating if needed) and migrate a SQLite store; any failure is a one-line BEACON_ERR_DB_OPEN. */
export function openSqliteStore(path: string, opts: { busyTimeoutMs?: number } = {}): SqliteStore {
  let db: Database | undefined;
  try {
    db = new BetterSqlite3(path);
    // Only takes effect on a new, empty file (WAL fixes it afterwards). 16 KiB pages measured
    // ~35% cheaper per upsert than the 4 KiB default: the random-keyed primary-key index touches
    // fewer pages per batch.
    db.pragma('page_size = 16384');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Short by default: on the thread that reads the socket, a blocked write is retried by the
    // batcher rather than stalling the receive loop. The store thread may wait longer (the settle
    // thread's swap holds the write lock for a few hundred ms on a big month).
    const busyTimeoutMs = Math.max(0, Math.floor(opts.busyTimeoutMs ?? 200));
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    db.pragma('cache_size = -32768');
    migrateSqlite(db);
    // The CHECK on run_facts.format (an IN list of three) makes SQLite build an ephemeral index
    // for every upsert it executes: ~10% of the store's CPU per row. Every value this connection
    // writes comes from code (IngestRecord.format is one of the three), so its statements are
    // compiled without CHECKs; the constraint still guards any other writer (an analyst's
    // connection). Set before the statements are prepared, which is when it takes effect.
    db.pragma('ignore_check_constraints = ON');
    const store = new SqliteStore(db);
    store.wal = new WalBound(db, walLimitBytes(), busyTimeoutMs);
    return store;
  } catch (e) {
    if (db?.open) db.close();
    if (e instanceof BeaconError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new BeaconError('BEACON_ERR_DB_OPEN', `cannot open SQLite store ${path}: ${why}`, { cause: e });
  }
}
