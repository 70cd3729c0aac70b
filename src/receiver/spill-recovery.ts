import { renameSync, unlinkSync } from 'node:fs';
import type { Logger } from 'pino';
import type { RunStore, WriteResult } from '../store/types.js';
import type { WireBatch } from '../store/types.js';
import { decodeBatch } from '../store/sqlite/wire-batch.js';
import type { Leftover } from './batcher.js';
import { listSpills, readSpill, writeSpill, type SpillPlace } from './spill.js';

function write(store: RunStore, b: WireBatch, counters: Leftover['counters']): Promise<WriteResult> {
  return store.writeWire ? store.writeWire(b, counters) : store.writeBatch(decodeBatch(b), counters);
}

/**
 * At start, before the socket opens: commits every spill file of this store, oldest first, each
 * file's batches and counters, then deletes it. A file that fails its checks is renamed
 * `.damaged` and left for the operator (never committed, never deleted); one the store refuses is
 * kept for the next start. Returns the records committed.
 */
export async function commitSpills(store: RunStore, place: SpillPlace, log: Logger): Promise<number> {
  let total = 0;
  for (const path of listSpills(place)) {
    let content;
    try {
      content = readSpill(path);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      try {
        renameSync(path, `${path}.damaged`);
      } catch {
        // left under its name; it will be refused again next time
      }
      log.error({ file: path, err: why }, 'spill file is damaged; left as .damaged, not committed');
      continue;
    }
    try {
      let stored = 0;
      let duplicates = 0;
      let counters = content.counters;
      for (const b of content.batches) {
        const r = await write(store, b, counters);
        counters = [];
        stored += r.stored;
        duplicates += r.duplicates;
      }
      // No batch (only counters): they still go in.
      if (content.batches.length === 0 && counters.length > 0) await store.writeBatch([], counters);
      // A kill between the commit and this unlink commits the file again next start: the runs
      // are then duplicates (the store's key), only its counters would count twice.
      unlinkSync(path);
      total += content.records;
      // A store with an intake log knows what its records did only once they are merged.
      const outcome = store.unmergedBytes === undefined ? { stored, duplicates } : {};
      log.info({ file: path, records: content.records, ...outcome }, 'spill file committed');
    } catch (e) {
      log.error(
        { file: path, records: content.records, err: e instanceof Error ? e.message : String(e) },
        'spill file could not be committed yet; kept for the next start',
      );
    }
  }
  return total;
}

/**
 * At exit, when the store could not take the backlog: writes it to a spill file. Returns the
 * records lost (0 unless the spill itself failed; that count is logged).
 */
export function spillLeftover(left: Leftover, place: SpillPlace, log: Logger): number {
  if (left.records === 0 && left.counters.length === 0) return 0;
  try {
    const file = writeSpill(place, left);
    log.warn(
      { file, records: left.records },
      'store unavailable at exit: accepted datagrams written to a spill file; the next start commits them',
    );
    return 0;
  } catch (e) {
    log.error(
      { dir: place.dir, lost: left.records, err: e instanceof Error ? e.message : String(e) },
      'store unavailable at exit and the spill file could not be written: accepted datagrams lost',
    );
    try {
      unlinkSync(`${place.dir}/${place.base}.spill-partial-${process.pid}`);
    } catch {
      // nothing partial was left
    }
    return left.records;
  }
}
