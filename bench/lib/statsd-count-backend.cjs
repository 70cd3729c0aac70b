// A statsd backend that only counts (bench/receiver.mjs's yardstick): on every flush it adds the
// packets, metrics and bad lines statsd saw to running totals and writes them to
// config.countFile, so the benchmark can read what statsd kept. No console, no network.
const { renameSync, writeFileSync } = require('node:fs');

exports.init = function init(_startupTime, config, events) {
  const totals = { packets: 0, metrics: 0, badLines: 0, flushes: 0 };
  const prefix = config.prefixStats ?? 'statsd';
  events.on('flush', (_ts, metrics) => {
    const c = metrics.counters;
    totals.packets += c[`${prefix}.packets_received`] ?? 0;
    totals.metrics += c[`${prefix}.metrics_received`] ?? 0;
    totals.badLines += c[`${prefix}.bad_lines_seen`] ?? 0;
    totals.flushes++;
    // Whole or not at all: the benchmark may read it at any moment.
    writeFileSync(`${config.countFile}.tmp`, JSON.stringify(totals));
    renameSync(`${config.countFile}.tmp`, config.countFile);
  });
  return true;
};
