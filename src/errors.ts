/**
 * Errors that users and operators see. Each has a stable code (documented in docs/errors.md; a test
 * checks the two lists match) and the exit status the CLI ends with. Only the CLI entry point turns
 * them into a message and an exit; library code never exits.
 */
export const ERROR_CODES = {
  BEACON_ERR_USAGE: { exit: 2, summary: 'A command-line argument or option is invalid.' },
  BEACON_ERR_BAD_COLLECTOR: { exit: 2, summary: 'The collector is not a usable host:port.' },
  BEACON_ERR_NO_COMMAND: { exit: 2, summary: '`beacon run` was given no command to run.' },
  BEACON_ERR_SPAWN: { exit: 127, summary: '`beacon run` could not start the command (not found or not executable).' },
  BEACON_ERR_STATE_FILE: { exit: 1, summary: 'The state file could not be read or written (enable/disable).' },
  BEACON_ERR_PORT_IN_USE: { exit: 1, summary: 'The receiver could not bind its UDP or metrics port.' },
  BEACON_ERR_DB_OPEN: { exit: 1, summary: 'The store (SQLite file or PostgreSQL) could not be opened or migrated.' },
  BEACON_ERR_SCHEMA_TOO_NEW: { exit: 78, summary: 'The store was migrated by a newer usage-beacon; this version refuses to use it.' },
  BEACON_ERR_DB_MISSING: { exit: 1, summary: 'The SQLite file given to a report or prune does not exist.' },
  BEACON_ERR_BAD_MONTH: { exit: 2, summary: '--month is not a valid YYYY-MM.' },
  BEACON_ERR_BAD_PERIOD: { exit: 2, summary: 'The period of `reports period` (--from/--to or --year) is invalid, reversed or too long.' },
  BEACON_ERR_BAD_FORMAT: { exit: 2, summary: '--format is not one of md, html, json, csv.' },
  BEACON_ERR_BAD_DURATION: { exit: 2, summary: 'A duration such as --older-than is not like 60d, 12h or 90m.' },
  BEACON_ERR_RELAY_QUEUE: { exit: 1, summary: '`beacon relay` could not create or read its queue directory.' },
  BEACON_ERR_OUTPUT: { exit: 1, summary: 'The report could not be written to --out.' },
  BEACON_ERR_COLLECTOR_SECRET: {
    exit: 78,
    summary: 'The collector secret file could not be read or created, is malformed, or is not the one the store was keyed with.',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class BeaconError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BeaconError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
  }
}

export function isBeaconError(e: unknown): e is BeaconError {
  return e instanceof BeaconError;
}
