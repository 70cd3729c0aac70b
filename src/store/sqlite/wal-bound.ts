import { statSync } from 'node:fs';
import type { Database } from 'better-sqlite3';

/**
 * Keeps a SQLite store's write-ahead log under a limit (16 MiB by default, $BEACON_WAL_LIMIT_MB).
 *
 * SQLite's own checkpoints are PASSIVE: they copy what no reader still needs and restart the log
 * only at a moment when no reader is using it. With readers that overlap (the settle thread,
 * `reports monthly`, a backup) such a moment may never come, and the log grows by every commit:
 * 29–62 MB beside a 41 MB store was seen. A log file only shrinks when it is truncated, so its
 * high-water mark stays on disk, and a disk that is nearly full fills again from it.
 *
 * Here the writer itself runs TRUNCATE checkpoints. That mode waits for the readers already in
 * the log and blocks new writers; readers that start meanwhile read the database file, not the
 * log, so a stream of overlapping readers cannot starve it, only one reader that holds a
 * snapshot for long. Two thresholds:
 * - past a quarter of the limit, after a commit and on a timer: a checkpoint that does not wait
 *   (busy at once if a reader is in the log), so truncation follows soon after readers let go;
 * - past half the limit, before a write: one that waits up to WAIT_MS for the readers; if a
 *   reader still holds the log, the write is refused (code BEACON_WAL_FULL) and the receiver keeps
 *   the batch in its bounded backlog and retries. So the log never passes half the limit plus one
 *   transaction, whatever a reader does; a reader that holds one snapshot for minutes delays
 *   commits (the backlog absorbs it, then drops are counted as overload.wal_full) but cannot grow
 *   the file.
 * `journal_size_limit` caps what a restarted log keeps on disk; SQLite's automatic checkpoint
 * runs at a quarter of the limit too.
 */
export const DEFAULT_WAL_LIMIT_MB = 16;
const CHECK_EVERY_MS = 200;
const WAIT_MS = 250;

export function walLimitBytes(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BEACON_WAL_LIMIT_MB);
  return Math.floor((Number.isFinite(n) && n > 0 ? n : DEFAULT_WAL_LIMIT_MB) * 1024 * 1024);
}

export class WalFullError extends Error {
  readonly code = 'BEACON_WAL_FULL';
}

export class WalBound {
  private last = 0;
  private readonly walPath: string;
  /** Checkpoints that truncated the log; writes refused because a reader held it (for tests). */
  truncations = 0;
  refused = 0;

  constructor(
    private readonly db: Database,
    readonly limit: number,
    private readonly busyTimeoutMs: number,
  ) {
    this.walPath = `${db.name}-wal`;
    const page = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`journal_size_limit = ${limit}`);
    db.pragma(`wal_autocheckpoint = ${Math.max(16, Math.floor(limit / 4 / page))}`);
  }

  size(): number {
    try {
      return statSync(this.walPath).size;
    } catch {
      return 0;
    }
  }

  /** Before a write: past half the limit, truncate (waiting for readers briefly) or refuse. */
  beforeWrite(): void {
    if (this.size() <= this.limit / 2) return;
    if (this.truncate(WAIT_MS)) return;
    this.refused++;
    throw new WalFullError(`the write-ahead log is over half its ${this.limit >> 20} MiB limit and a reader holds it; will retry`);
  }

  /** After a commit, and from a timer: past a quarter of the limit, truncate if no reader is in the log. */
  tick(): void {
    const now = performance.now();
    if (now - this.last < CHECK_EVERY_MS) return;
    this.last = now;
    if (this.size() > this.limit / 4) this.truncate(0);
  }

  private truncate(waitMs: number): boolean {
    if (!this.db.open || this.db.inTransaction) return false;
    try {
      this.db.pragma(`busy_timeout = ${waitMs}`);
      const r = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (r[0]?.busy) return false;
      this.truncations++;
      return true;
    } catch {
      // A full disk or a locked file: tried again later.
      return false;
    } finally {
      try {
        this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      } catch {
        // the connection is closing
      }
    }
  }
}
