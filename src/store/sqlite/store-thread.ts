import { closeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { isBeaconError } from '../../errors.js';
import { openSqliteStore, type IntakeMark, type SqliteStore } from './store.js';
import type { CounterDelta, IngestRecord, WriteResult } from '../types.js';
import { decodeBatch } from './wire-batch.js';
import { lowerThreadPriority, osThreadId } from './thread-priority.js';
import {
  listOwners,
  listSegments,
  openSegment,
  ownerGone,
  readFrame,
  removeOwnerDir,
  SEGMENT_HEADER_BYTES,
  segmentName,
} from './intake-log.js';

/**
 * Worker-thread side of WorkerStore: owns the SQLite connection and merges the intake log
 * (src/store/sqlite/intake-log.ts) into `run_facts`, so neither commits nor merges ever block the
 * thread that reads the socket. The owner appends frames and says where its log ends
 * ('appended'); this thread reads them back, merges up to MERGE_RECORDS records per transaction
 * (the merge position in the same transaction) and reports what the store did ('merged').
 *
 * It runs at a lower CPU priority than the socket's thread (src/store/sqlite/thread-priority.ts):
 * on one busy core the reader gets the CPU first and the merge follows in what is left; the log,
 * bounded by the owner, holds the difference.
 */
export type ToStoreThread = { type: 'appended'; segment: number; end: number } | { type: 'close'; drainMs: number };

export interface StoreThreadData {
  path: string;
  /** The intake root (`<db>.intake`) and this process's own directory in it. */
  root: string;
  owner: string;
  /** The segment the owner appends to. */
  live: number;
}

export type FromStoreThread =
  | { type: 'open'; ok: true; tid?: number; nice?: number }
  | { type: 'open'; ok: false; code?: string; message: string }
  | { type: 'merged'; stored: number; duplicates: number; records: number; bytes: number; own: boolean }
  | { type: 'merge-failed'; message: string; code?: string }
  | { type: 'damaged'; file: string; offset: number; why: string }
  | { type: 'adopted'; owner: string }
  | { type: 'closed'; unmerged: boolean };

/** At most this many records per merge transaction: bigger ones dirty fewer pages per record, but hold the write lock longer. */
const MERGE_RECORDS = 16_384;
/** A failing merge (disk full, locked, read-only) is retried this often. */
const RETRY_MS = 250;
/** Logs of receivers that are gone are looked for this often. */
const RESCAN_MS = 30_000;

if (!parentPort) throw new Error('store-thread.js runs only as a worker thread');
const port = parentPort;
const data = workerData as StoreThreadData;

function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}
function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** One intake log being merged: an owner directory and where in it the merge stands. */
interface Cursor {
  owner: string;
  dir: string;
  own: boolean;
  segments: number[];
  segment: number;
  offset: number;
  /** The merge position the store holds for this log, as this thread last knew it. */
  stored: { segment: number; offset: number } | undefined;
  fd: number | undefined;
}

let store: SqliteStore | undefined;
try {
  // Off the socket's thread, so waiting out another writer (the settle thread's swap) is harmless.
  store = openSqliteStore(data.path, { busyTimeoutMs: 2000 });
  const tid = osThreadId();
  const nice = lowerThreadPriority();
  port.postMessage({ type: 'open', ok: true, tid, nice } satisfies FromStoreThread);
} catch (e) {
  const msg: FromStoreThread = isBeaconError(e)
    ? { type: 'open', ok: false, code: e.code, message: e.message }
    : { type: 'open', ok: false, message: message(e) };
  port.postMessage(msg);
}

// The log is truncated when readers let go even if no batch comes (src/store/sqlite/wal-bound.ts).
const walTimer = setInterval(() => store?.wal?.tick(), 500);
walTimer.unref();

let pumping = false;
let closing: { drainUntil: number } | undefined;
let retryTimer: NodeJS.Timeout | undefined;

/** Logs to merge: other owners' left behind, and this process's own. */
const queue: Cursor[] = [];

/** A cursor over an owner's segments from its stored merge position (none: from the start). */
function cursor(owner: string, segments: number[], own: boolean, mark: IntakeMark | undefined): Cursor | undefined {
  const dir = join(data.root, owner);
  // Segments wholly merged before a kill (deleted after their last merge) go now.
  for (const s of segments) if (mark && s < mark.segment) unlinkQuiet(join(dir, segmentName(s)));
  const left = mark ? segments.filter((s) => s >= mark.segment) : segments;
  if (left.length === 0) return undefined;
  const first = left[0]!;
  return {
    owner,
    dir,
    own,
    segments: left,
    segment: first,
    offset: mark && mark.segment === first ? mark.offset : SEGMENT_HEADER_BYTES,
    stored: mark ? { segment: mark.segment, offset: mark.offset } : undefined,
    fd: undefined,
  };
}

/**
 * Looks for logs whose owner is gone (src/store/sqlite/intake-log.ts says how that is told) and
 * queues them; at start, then every RESCAN_MS, so a receiver killed and restarted at once (a
 * container's pid 1, whose old log looks alive until its heartbeat is stale) is merged too.
 */
function adoptOrphans(): void {
  const s = store;
  if (!s || closing) return;
  try {
    const marks = s.intakeMarks();
    for (const owner of listOwners(data.root)) {
      if (owner === data.owner || queue.some((c) => c.owner === owner)) continue;
      const dir = join(data.root, owner);
      if (!ownerGone(owner, dir)) continue;
      const mark = marks.get(owner);
      const segments = listSegments(dir);
      const c = mark?.done ? undefined : cursor(owner, segments, false, mark);
      if (c) {
        queue.push(c);
        port.postMessage({ type: 'adopted', owner } satisfies FromStoreThread);
      } else {
        // Merged to its end already (a kill between the last merge and the clean-up).
        for (const seg of segments) unlinkQuiet(join(dir, segmentName(seg)));
        removeOwnerDir(dir);
      }
    }
    s.forgetFinishedIntakes();
  } catch (e) {
    // A busy or failing store: looked at again at the next rescan.
    port.postMessage({ type: 'merge-failed', message: message(e), code: errorCode(e) } satisfies FromStoreThread);
  }
  pump();
}

const rescanTimer = setInterval(adoptOrphans, RESCAN_MS);
rescanTimer.unref();

/** End of the live segment as last reported, per segment (the owner moves to a new one past segmentBytes()). */
const appendedEnd = new Map<number, number>([[data.live, SEGMENT_HEADER_BYTES]]);
let liveSegment = data.live;

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** How far the merge may read in the cursor's current segment. */
function limitOf(c: Cursor): number {
  if (!c.own) return Infinity;
  if (c.segment < liveSegment) return appendedEnd.get(c.segment) ?? Infinity;
  return appendedEnd.get(c.segment) ?? SEGMENT_HEADER_BYTES;
}

/** The current segment is finished: close and delete it, move to the next. */
function nextSegment(c: Cursor): void {
  if (c.fd !== undefined) closeSync(c.fd);
  c.fd = undefined;
  unlinkQuiet(join(c.dir, segmentName(c.segment)));
  if (c.own) appendedEnd.delete(c.segment);
  c.segments.shift();
  if (c.segments.length > 0) {
    c.segment = c.segments[0]!;
    c.offset = SEGMENT_HEADER_BYTES;
  }
}

function damaged(c: Cursor, offset: number, why: string): void {
  port.postMessage({ type: 'damaged', file: join(c.dir, segmentName(c.segment)), offset, why } satisfies FromStoreThread);
}

/**
 * Merges one transaction's worth (at most MERGE_RECORDS records) from one log. Returns the
 * records merged; 0 when this log has nothing to merge now.
 */
function mergeFrom(c: Cursor, s: SqliteStore): number {
  for (;;) {
    const records: IngestRecord[] = [];
    const counters: CounterDelta[] = [];
    let offset = c.offset;
    let bytes = 0;
    let finished = false;
    while (records.length < MERGE_RECORDS) {
      if (c.fd === undefined) {
        try {
          c.fd = openSegment(join(c.dir, segmentName(c.segment)));
        } catch (e) {
          // Missing or not a segment: nothing in it can be merged.
          if (errorCode(e) !== 'ENOENT') damaged(c, offset, message(e));
          finished = true;
          break;
        }
      }
      const r = readFrame(c.fd, offset, limitOf(c));
      if ('end' in r) {
        // At the readable end: a finished segment if its owner has moved on (or is gone).
        finished = !c.own || c.segment < liveSegment;
        break;
      }
      if ('damaged' in r) {
        // Only a log no one appends to any more can end in a damaged frame (a kill or power loss
        // during its last write); what follows it cannot be framed, so the segment ends here.
        damaged(c, offset, r.damaged);
        finished = true;
        break;
      }
      let decoded: IngestRecord[];
      try {
        decoded = decodeBatch(r.frame.batch);
      } catch (e) {
        damaged(c, offset, message(e));
        finished = true;
        break;
      }
      for (const rec of decoded) records.push(rec);
      for (const d of r.frame.counters) counters.push(d);
      bytes += r.frame.end - offset;
      offset = r.frame.end;
    }
    if (records.length > 0 || counters.length > 0) {
      const to = { segment: c.segment, offset };
      let r: WriteResult;
      try {
        r = s.mergeIntake(records, counters, c.owner, c.stored, to, finished && !c.own && c.segments.length === 1);
      } catch (e) {
        if (errorCode(e) !== 'BEACON_INTAKE_RACE') throw e;
        // Another receiver adopted this log too and merged from it first: it is that one's now.
        if (c.fd !== undefined) closeSync(c.fd);
        queue.splice(queue.indexOf(c), 1);
        return 0;
      }
      c.offset = offset;
      c.stored = to;
      port.postMessage({
        type: 'merged',
        stored: r.stored,
        duplicates: r.duplicates,
        records: records.length,
        bytes,
        own: c.own,
      } satisfies FromStoreThread);
    }
    if (finished) {
      nextSegment(c);
      if (c.segments.length === 0) {
        queue.splice(queue.indexOf(c), 1);
        // A log of an owner that is gone, merged to its end: marked done (so no one merges it
        // again), its directory removed.
        if (!c.own) {
          if (records.length === 0 && counters.length === 0) s.finishIntake(c.owner, c.stored);
          removeOwnerDir(c.dir);
        }
      }
      if (records.length > 0) return records.length;
      if (!queue.includes(c)) return 0;
      continue;
    }
    return records.length;
  }
}

/** One merge transaction from the first log, in queue order, that has something. */
function mergeOnce(): boolean {
  const s = store!;
  for (const c of [...queue]) if (mergeFrom(c, s) > 0) return true;
  return false;
}

/** Merges while there is something to merge, yielding between transactions so messages get in. */
function pump(): void {
  if (pumping || !store) return;
  pumping = true;
  const step = (): void => {
    let more: boolean;
    try {
      more = mergeOnce();
    } catch (e) {
      port.postMessage({ type: 'merge-failed', message: message(e), code: errorCode(e) } satisfies FromStoreThread);
      pumping = false;
      if (closing) finish(true);
      else
        retryTimer ??= setTimeout(() => {
          retryTimer = undefined;
          pump();
        }, RETRY_MS);
      return;
    }
    if (more && (!closing || Date.now() < closing.drainUntil)) {
      setImmediate(step);
      return;
    }
    pumping = false;
    if (closing) finish(more);
  };
  step();
}

function finish(unmerged: boolean): void {
  clearInterval(walTimer);
  clearInterval(rescanTimer);
  clearTimeout(retryTimer);
  for (const c of queue) if (c.fd !== undefined) closeSync(c.fd);
  // This process's log merged to its end (the owner appends no more once it closes): marked done
  // and removed, so no later receiver has anything to adopt. Otherwise it stays for the next start.
  const own = queue.find((c) => c.own);
  if (!unmerged && own && store) {
    try {
      store.finishIntake(own.owner, own.stored);
      for (const s of own.segments) unlinkQuiet(join(own.dir, segmentName(s)));
      removeOwnerDir(own.dir);
    } catch {
      // the store would not take the mark: the next start adopts the (empty) log instead
    }
  }
  void (store?.close() ?? Promise.resolve()).finally(() => {
    port.postMessage({ type: 'closed', unmerged } satisfies FromStoreThread);
    port.close();
  });
}

port.on('message', (m: ToStoreThread) => {
  if (m.type === 'appended') {
    if (m.segment > liveSegment) {
      liveSegment = m.segment;
      queue.find((c) => c.own)?.segments.push(m.segment);
    }
    appendedEnd.set(m.segment, m.end);
    pump();
    return;
  }
  // close: drain what is left (for at most drainMs; the rest waits in the log for the next
  // start), then close. A pump under way sees `closing` and finishes.
  closing = { drainUntil: Date.now() + m.drainMs };
  if (!store) finish(false);
  else if (!pumping) pump();
});

// Last, once every binding above exists: this process's own log, then any left by receivers that are gone.
if (store) {
  queue.push(cursor(data.owner, [data.live], true, undefined)!);
  adoptOrphans();
}
