import { os } from './builtins.js';

/**
 * Call `onEnd(exitCode)` exactly once when the process ends, without changing how it ends.
 *
 * - 'exit' covers a normal end, process.exit(n), an uncaught exception and an unhandled rejection:
 *   Node emits 'exit' with the real status (1 for the last two) before exiting. Its listeners run
 *   synchronously, so `onEnd` must be synchronous (a connected UDP socket's send is).
 *   'uncaughtExceptionMonitor' is deliberately not used: it also fires when the host's own
 *   'uncaughtException' handler keeps the process running, which would end the run too early.
 * - SIGINT/SIGTERM/SIGHUP: listening to a signal disables Node's default "die of it". So when the
 *   host has no listener of its own, we report 128+n, remove ours and re-raise the signal: the
 *   host still dies of it, exactly as without the beacon. When the host has a listener, it decides;
 *   whatever exit follows is reported by 'exit'.
 */
export const HOOKED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

// Shared by every copy of usage-beacon in the process, so two embedded beacons do not each take
// the other's listener for the host's and leave the process unkillable.
const MARK = Symbol.for('usage-beacon.signal-listener');

function hostListeners(signal: NodeJS.Signals): number {
  return process.listeners(signal).filter((l) => !(l as unknown as Record<symbol, boolean>)[MARK]).length;
}

export function installExitHooks(onEnd: (code: number) => void): () => void {
  const signalListeners = new Map<NodeJS.Signals, () => void>();
  const onExit = (code: unknown) => onEnd(typeof code === 'number' ? code : Number(code) || 0);
  const uninstall = () => {
    process.removeListener('exit', onExit);
    for (const [signal, listener] of signalListeners) process.removeListener(signal, listener);
    signalListeners.clear();
  };
  process.on('exit', onExit);
  for (const signal of HOOKED_SIGNALS) {
    const listener = () => {
      if (hostListeners(signal) > 0) return; // the host handles it; 'exit' reports what it decides
      try {
        onEnd(128 + (os().constants.signals[signal] ?? 0));
      } finally {
        uninstall();
        // With no listener left, the default disposition is back: the re-raised signal kills us.
        process.kill(process.pid, signal);
      }
    };
    (listener as unknown as Record<symbol, boolean>)[MARK] = true;
    signalListeners.set(signal, listener);
    process.on(signal, listener);
  }
  return uninstall;
}
