import { statSync } from 'node:fs';
import type { Database } from 'better-sqlite3';

/**
 * Keeps a SQLite store's write-ahead log small. SQLite's own checkpoints are PASSIVE: they copy
 * what no reader still needs and restart the log only at a moment when no reader is using it.
 * With readers that overlap (the settle thread, `reports monthly`, a backup) such a moment may
 * never come, and the log grows by every commit: 29–62 MB beside a 41 MB store was seen. And a
 * log only shrinks when it is truncated, so its high-water mark stays on disk.
 *
 * So: `journal_size_limit` cuts the file back whenever the log restarts, SQLite's automatic
 * checkpoint runs at a quarter of the limit, and after a commit that left the file over half the
 * limit (looked at no more than every 200 ms) the writer runs a TRUNCATE checkpoint. That mode
 * blocks new writers and waits for the readers already in the log; readers that start meanwhile
 * read the database file, not the log, so a stream of overlapping readers cannot starve it. It
 * waits at most WAIT_MS (then gives up and tries again after the next commit), so a reader
 * holding one snapshot for minutes delays the truncation but never stalls ingest: the receiver's
 * backlog absorbs the wait.
 *
 * $BEACON_WAL_LIMIT_MB sets the limit (default 16).
 */
export const DEFAULT_WAL_LIMIT_MB = 16;
const CHECK_EVERY_MS = 200;
const WAIT_MS = 250;

export function walLimitBytes(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BEACON_WAL_LIMIT_MB);
  return Math.floor((Number.isFinite(n) && n > 0 ? n : DEFAULT_WAL_LIMIT_MB) * 1024 * 1024);
}

export class WalBound {
  private last = 0;
  private readonly walPath: string;
  /** Checkpoints that truncated the log / that readers made wait too long (tests and benchmarks). */
  truncations = 0;
  busy = 0;

  constructor(private readonly db: Database, private readonly limit: number, private readonly busyTimeoutMs: number) {
    this.walPath = `${db.name}-wal`;
    const page = db.pragma('page_size', { simple: true }) as number;
    db.pragma(`journal_size_limit = ${limit}`);
    db.pragma(`wal_autocheckpoint = ${Math.max(16, Math.floor(limit / 4 / page))}`);
  }

  /** After a commit: truncate the log if it passed half the limit. Never throws. */
  afterCommit(): void {
    const now = performance.now();
    if (now - this.last < CHECK_EVERY_MS) return;
    this.last = now;
    let size = 0;
    try {
      size = statSync(this.walPath).size;
    } catch {
      return;
    }
    if (size <= this.limit / 2) return;
    try {
      this.db.pragma(`busy_timeout = ${WAIT_MS}`);
      const r = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (r[0]?.busy) this.busy++;
      else this.truncations++;
    } catch {
      // A full disk or a locked file: the next commit tries again.
      this.busy++;
    } finally {
      try {
        this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      } catch {
        // the connection is closing
      }
    }
  }
}
