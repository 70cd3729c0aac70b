// A throw-away PostgreSQL schema per benchmark run, reached through the URL's search_path exactly
// as an operator's receivers would (docs/deploy.md).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { withDefaultUser } from '../../dist/store/postgres/connection.js';

export const BASE_URL = process.env.BENCH_PG_URL ?? 'postgres://127.0.0.1:5432/test';

/** Runs fn(url, adminPool) with a fresh schema, dropped afterwards. */
export async function withSchema(fn) {
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const u = new URL(BASE_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  const admin = new pg.Pool({ connectionString: withDefaultUser(u.toString()), max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  try {
    return await fn(u.toString(), admin);
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}
