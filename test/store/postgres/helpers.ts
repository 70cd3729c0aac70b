import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDefaultUser } from '../../../src/store/postgres/connection.js';

/**
 * The machine's real PostgreSQL (trust auth, database `test`). Each test gets its own schema,
 * named at random, so test files running in parallel never see each other's tables; the
 * connection URL puts the store in it through `options=-c search_path=…`, exactly as an operator
 * would. No skipping: if the server is down, these tests fail (.ci/run starts it first).
 */
export const PG_URL = process.env.BEACON_TEST_PG_URL ?? 'postgres://127.0.0.1:5432/test';

export function schemaUrl(schema: string, base = PG_URL): string {
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export interface TestSchema {
  schema: string;
  url: string;
  /** A pool on the schema for assertions (closed by drop). */
  admin: pg.Pool;
  drop(): Promise<void>;
}

export async function createTestSchema(): Promise<TestSchema> {
  const schema = `bt_${randomBytes(6).toString('hex')}`;
  const url = schemaUrl(schema);
  const admin = new pg.Pool({ connectionString: withDefaultUser(url), max: 2 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  return {
    schema,
    url,
    admin,
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** Numbers come back from bigint/numeric columns as strings: compare as numbers. */
export function plainRow(r: Record<string, unknown>, bigints: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...r };
  for (const k of bigints) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  return out;
}
