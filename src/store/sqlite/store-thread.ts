import { closeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { isBeaconError } from '../../errors.js';
import { openSqliteStore, type IntakeMark, type SqliteStore } from './store.js';
import type { CounterDelta, IngestRecord } from '../types.js';
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
  /** Segments the owner found in its directory at start, left by an earlier process of its pid. */
  leftover: number[];
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

const marks = store ? store.intakeMarks() : new Map<string, IntakeMark>();
/** Logs to merge, oldest first: other owners' left behind, this owner's leftovers, then its live log. */
const queue: Cursor[] = [];
function cursor(owner: string, segments: number[], own: boolean): Cursor | undefined {
  const mark = marks.get(owner);
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
    fd: undefined,
  };
}
if (store) {
  for (const owner of listOwners(data.root)) {
    if (owner === data.owner || !ownerGone(owner)) continue;
    const c = cursor(owner, listSegments(join(data.root, owner)), false);
    if (c) {
      queue.push(c);
      port.postMessage({ type: 'adopted', owner } satisfies FromStoreThread);
    } else {
      removeOwnerDir(join(data.root, owner));
      if (marks.has(owner)) store.dropIntakeMark(owner);
    }
  }
  const own = cursor(data.owner, [...data.leftover, data.live], true);
  if (own) queue.push(own);
}
/** End of the live segment as last reported, per segment (the owner moves to a new one past SEGMENT_BYTES). */
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
  appendedEnd.delete(c.segment);
  c.segments.shift();
  if (c.segments.length > 0) {
    c.segment = c.segments[0]!;
    c.offset = SEGMENT_HEADER_BYTES;
  }
}

/**
 * Merges one transaction's worth from the oldest log that has anything. Returns false when there
 * is nothing to merge now.
 */
function mergeOnce(): boolean {
  const s = store!;
  while (queue.length > 0) {
    const c = queue[0]!;
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
          if (errorCode(e) !== 'ENOENT')
            port.postMessage({
              type: 'damaged',
              file: join(c.dir, segmentName(c.segment)),
              offset,
              why: message(e),
            } satisfies FromStoreThread);
          finished = true;
          break;
        }
      }
      const limit = limitOf(c);
      const r = readFrame(c.fd, offset, limit);
      let decoded: IngestRecord[] | undefined;
      if ('frame' in r) {
        try {
          decoded = decodeBatch(r.frame.batch);
        } catch (e) {
          port.postMessage({
            type: 'damaged',
            file: join(c.dir, segmentName(c.segment)),
            offset,
            why: message(e),
          } satisfies FromStoreThread);
          finished = true;
          break;
        }
      }
      if ('frame' in r && decoded) {
        for (const rec of decoded) records.push(rec);
        for (const d of r.frame.counters) counters.push(d);
        bytes += r.frame.end - offset;
        offset = r.frame.end;
        continue;
      }
      if ('damaged' in r) {
        // Only a log no one appends to any more can end in a damaged frame (a kill or power loss
        // during its last write); what follows it cannot be framed, so the segment ends here.
        port.postMessage({ type: 'damaged', file: join(c.dir, segmentName(c.segment)), offset, why: r.damaged } satisfies FromStoreThread);
        finished = true;
        break;
      }
      // At the readable end: a finished segment if its owner has moved on (or is gone).
      finished = !c.own || c.segment < liveSegment;
      break;
    }
    if (records.length > 0 || counters.length > 0 || offset !== c.offset) {
      const r = s.mergeIntake(records, counters, { owner: c.owner, segment: c.segment, offset });
      c.offset = offset;
      // `own`: appended by this process (the owner counts those as unmerged), not left by an earlier one.
      const own = c.own && c.segment >= data.live;
      port.postMessage({
        type: 'merged',
        stored: r.stored,
        duplicates: r.duplicates,
        records: records.length,
        bytes,
        own,
      } satisfies FromStoreThread);
    }
    if (finished) {
      nextSegment(c);
      if (c.segments.length === 0) {
        queue.shift();
        if (!c.own) {
          removeOwnerDir(c.dir);
          s.dropIntakeMark(c.owner);
        }
      }
      if (records.length > 0) return true;
      continue;
    }
    return records.length > 0;
  }
  return false;
}

let pumping = false;
let closing: { drainUntil: number } | undefined;
let retryTimer: NodeJS.Timeout | undefined;

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
  clearTimeout(retryTimer);
  for (const c of queue) if (c.fd !== undefined) closeSync(c.fd);
  void (store?.close() ?? Promise.resolve()).finally(() => {
    port.postMessage({ type: 'closed', unmerged } satisfies FromStoreThread);
    port.close();
  });
}

port.on('message', (m: ToStoreThread) => {
  if (m.type === 'appended') {
    if (m.segment > liveSegment) {
      liveSegment = m.segment;
      const own = queue.find((c) => c.own);
      if (own) own.segments.push(m.segment);
      else {
        const c = cursor(data.owner, [m.segment], true);
        if (c) queue.push(c);
      }
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

// Whatever earlier processes left is merged first.
if (queue.length > 0) pump();
