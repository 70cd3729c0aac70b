// Synthetic history for the demo: 12 months of plausible runs of a growing project, written
// straight into the store (the demo's live runs go through the real beacon and receiver). A fixed
// PRNG seed keeps the demo's numbers the same on every machine.

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rnd, n) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
const uuid4 = (rnd) => `${hex(rnd, 8)}-${hex(rnd, 4)}-4${hex(rnd, 3)}-${'89ab'[Math.floor(rnd() * 4)]}${hex(rnd, 3)}-${hex(rnd, 12)}`;
const pick = (rnd, weighted) => {
  let x = rnd() * weighted.reduce((a, [, w]) => a + w, 0);
  for (const [v, w] of weighted) if ((x -= w) < 0) return v;
  return weighted[weighted.length - 1][0];
};

/** Seed months now-11 … now (the current month only up to an hour ago). Returns counts. */
export function seedHistory(db, now) {
  const rnd = mulberry32(20261123);
  const users = Array.from({ length: 160 }, () => ({ id: hex(rnd, 32), host: hex(rnd, 32), scripts: [hex(rnd, 32), hex(rnd, 32)] }));
  const insert = db.prepare(`INSERT INTO run_facts (run, project, format, user_id, host_id, script_id, weak_ids, eph,
      version, runtime, os, arch, ci, components, first_seen_ms, month, start_seen_ms, end_seen_ms,
      client_start_ms, client_end_ms, exit_code, duration_ms, has_start, has_end)
    VALUES (?, 'demo-sim', 'native', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const counter = db.prepare(`INSERT INTO daily_counters (day, name, value) VALUES (?, ?, ?)
    ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value`);
  let total = 0;
  db.transaction(() => {
    for (let back = 11; back >= 0; back--) {
      const first = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1);
      const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back + 1, 1);
      const end = back === 0 ? now.getTime() - 3600_000 : next;
      if (end <= first) continue;
      const d = new Date(first);
      const month = d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
      const active = users.slice(0, 40 + (11 - back) * 9);
      const version = back > 7 ? '1.1.0' : back > 2 ? '1.2.1' : '1.3.0';
      const days = new Map();
      for (const u of active) {
        const nRuns = 1 + Math.floor(rnd() * 6);
        for (let k = 0; k < nRuns; k++) {
          const seen = Math.floor(first + rnd() * (end - first));
          const exit = pick(rnd, [
            [0, 86],
            [1, 9],
            [2, 3],
            [137, 2],
          ]);
          const dur = Math.round(Math.exp(Math.log(60_000) + rnd() * Math.log(180)));
          const hasStart = rnd() < 0.985 ? 1 : 0;
          const hasEnd = rnd() < 0.96 || !hasStart ? 1 : 0;
          const ver = rnd() < 0.8 ? version : '1.0.4';
          insert.run(
            uuid4(rnd),
            u.id,
            u.host,
            u.scripts[Math.floor(rnd() * 2)],
            0,
            ver,
            pick(rnd, [
              ['python/3.11.7', 5],
              ['python/3.12.1', 3],
              ['python/3.10.12', 2],
            ]),
            pick(rnd, [
              ['linux', 85],
              ['darwin', 15],
            ]),
            pick(rnd, [
              ['x64', 80],
              ['arm64', 20],
            ]),
            rnd() < 0.1 ? 1 : 0,
            JSON.stringify({ executors: 1 + Math.floor(rnd() * 3) }),
            seen,
            month,
            hasStart ? seen : null,
            hasEnd ? seen + dur : null,
            hasStart ? seen - 5 : null,
            hasEnd ? seen + dur - 5 : null,
            hasEnd ? exit : null,
            hasEnd ? dur : null,
            hasStart,
            hasEnd,
          );
          total++;
          const day = new Date(seen).toISOString().slice(0, 10);
          const c = days.get(day) ?? { stored: 0, lost: 0 };
          c.stored += hasStart + hasEnd;
          c.lost += 2 - hasStart - hasEnd;
          days.set(day, c);
        }
      }
      for (const [day, c] of days) {
        // Each datagram is sent twice: most second copies arrive and are counted as duplicates.
        const dups = c.stored - Math.round(c.lost * 0.5);
        counter.run(day, 'stored', c.stored);
        counter.run(day, 'duplicates', Math.max(0, dups));
        counter.run(day, 'received', c.stored + Math.max(0, dups) + 1);
        counter.run(day, 'rejected.not_json', 1);
      }
    }
  })();
  return { runs: total };
}
