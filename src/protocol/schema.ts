import { readFileSync } from 'node:fs';

/**
 * The JSON Schema of wire protocol v1, loaded from the committed schema file so the file in the
 * repository is the single source of truth. The beacon never loads it (it builds valid datagrams
 * by construction); the receiver compiles it once at start.
 */
export const SCHEMA_URL = new URL('./beacon-v1.schema.json', import.meta.url);

let cached: Record<string, unknown> | undefined;
export function loadProtocolSchema(): Record<string, unknown> {
  cached ??= JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as Record<string, unknown>;
  return cached;
}
