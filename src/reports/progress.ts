/**
 * A one-line progress indicator on stderr. Silent unless stderr is a TTY (pipes and CI logs stay
 * clean) and until building has taken longer than `delayMs` (a fast report prints nothing).
 */
export interface Progress {
  update(done: number, total: number, what: string): void;
  finish(): void;
}

interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

export function createProgress(stream: ProgressStream, delayMs = 1000, now: () => number = Date.now): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const start = now();
  let shown = false;
  return {
    update(done, total, what) {
      if (now() - start < delayMs) return;
      shown = true;
      const pct = Math.floor((100 * done) / Math.max(1, total));
      stream.write(`\r\x1b[2Kbuilding report: ${String(pct).padStart(3)}% ${what}`);
    },
    finish() {
      if (shown) stream.write('\r\x1b[2K');
    },
  };
}
