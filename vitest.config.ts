import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests spawn real child processes, UDP sockets, SQLite files and a PostgreSQL server on a
    // shared 2-core machine: generous timeouts, and files run in parallel only two at a time.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
