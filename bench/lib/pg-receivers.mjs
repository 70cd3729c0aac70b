// Phase "receivers" of bench/postgres.mjs: real `beacon receive --store postgres://…` processes fed
// by the paced C sender, measured as bench/receiver.mjs measures the SQLite receiver: after each
// step the rows committed are counted in PostgreSQL and compared to the datagrams sent; the result
// per setup is the highest rate at which ≥ 99.9% were stored (median of the repetitions), every
// lower rate lossless too.
//
// Setups (each rate starts with a fresh schema, so every rate meets the same empty tables):
//   one_receiver        one process
//   two_receivers       two processes on two ports; the sender spreads datagrams round-robin
//                       over them, as a UDP load balancer in front would
//   workers_2           one `beacon receive --workers 2` on one port (cluster workers sharing it)
// Nothing is pinned: the receivers, the sender and PostgreSQL share the machine's cores.
import { randomBytes } from 'node:crypto';
import { buildSender, datagramTemplate, pinning, sendPaced } from './sender.mjs';
import { settle, startReceiver, stopReceiver, totalMetrics } from './receiver-process.mjs';
import { highestLossless, LOSSLESS, median } from './stats.mjs';
import { withSchema } from './pg-schema.mjs';

const SETUPS = {
  one_receiver: { processes: 1, args: [] },
  two_receivers: { processes: 2, args: [] },
  workers_2: { processes: 1, args: ['--workers', '2'] },
};

export async function receiversPhase({ dir, rates, seconds, reps, flushMs, log = (m) => process.stderr.write(`${m}\n`) }) {
  const sender = buildSender(dir);
  const { pin } = pinning(false);
  const { template } = datagramTemplate();
  const steps = Object.fromEntries(Object.keys(SETUPS).map((k) => [k, []]));
  const live = new Set(Object.keys(SETUPS));
  // Rates outer, setups inner: noise on a shared machine hits every setup alike. A setup stops at
  // its first lossy rate (higher rates cannot raise its result).
  for (const rate of rates) {
    for (const name of [...live]) {
      const setup = SETUPS[name];
      const runs = await withSchema(async (url, admin) => {
        const rxs = [];
        try {
          for (let i = 0; i < setup.processes; i++)
            rxs.push(await startReceiver(['--store', url, '--flush-ms', String(flushMs), ...setup.args], pin));
          const out = [];
          for (let i = 0; i < reps; i++) {
            const prefix = randomBytes(4).toString('hex');
            const ports = rxs.map((r) => r.metricsPort);
            const before = await totalMetrics(ports);
            const { sent } = sendPaced(sender, pin, { ports: rxs.map((r) => r.port), rate, seconds, prefix, template });
            const after = await settle(ports, flushMs);
            const { rows } = await admin.query('SELECT count(*)::int AS n FROM run_facts WHERE run >= $1 AND run < $2', [
              `${prefix}-`,
              `${prefix}.`,
            ]);
            out.push({
              sent,
              stored: rows[0].n,
              ratio: rows[0].n / sent,
              received: after.received - before.received,
              kernelDrops: after.kernelDrops - before.kernelDrops,
            });
          }
          return out;
        } finally {
          const codes = await Promise.all(rxs.map(stopReceiver));
          if (codes.some((c) => c !== 0)) throw new Error(`${name}: a receiver exited ${codes.join(', ')}`);
        }
      });
      const ratio = median(runs.map((r) => r.ratio));
      steps[name].push({ rate, medianStoredRatio: Number(ratio.toFixed(5)), lossless: ratio >= LOSSLESS, runs });
      log(`${name} ${rate}/s: median stored ${(ratio * 100).toFixed(3)}%`);
      if (ratio < LOSSLESS) live.delete(name);
    }
    if (live.size === 0) break;
  }
  const results = Object.fromEntries(
    Object.entries(steps).map(([name, s]) => [
      name,
      {
        highestLosslessRate: highestLossless(s),
        steps: s,
      },
    ]),
  );
  const one = results.one_receiver.highestLosslessRate;
  return {
    sender: sender.kind,
    setups: Object.fromEntries(Object.entries(SETUPS).map(([k, v]) => [k, `${v.processes} process(es) ${v.args.join(' ')}`.trim()])),
    rates,
    secondsPerStep: seconds,
    repetitions: reps,
    flushMs,
    lossless: `≥ ${LOSSLESS * 100}% of sent stored`,
    results,
    ratios: {
      two_receivers_vs_one: one ? +(results.two_receivers.highestLosslessRate / one).toFixed(2) : null,
      workers_2_vs_one: one ? +(results.workers_2.highestLosslessRate / one).toFixed(2) : null,
    },
  };
}
