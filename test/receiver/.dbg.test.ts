import { it } from 'vitest';
import { pino } from 'pino';
import { createPipeline } from '../../src/receiver/pipeline.js';
import { ReceiverClock } from '../../src/receiver/clock.js';
import { Stats } from '../../src/receiver/stats.js';
import { RecentKeys } from '../../src/receiver/dedupe.js';
import { encoder } from './helpers.js';
it('dbg', () => {
  const stats = new Stats();
  const p = createPipeline({ clock: new ReceiverClock(), stats, recent: new RecentKeys(), accept: () => {}, log: pino({ level: 'info' }) });
  const validStart = () => JSON.parse(encoder({ components: { n: 1 } }).start(Date.now()).toString());
  const validEnd = () => JSON.parse(encoder().end(Date.now(), 0, 10).toString());
  const cases = {
    a: Buffer.from(JSON.stringify(validEnd()).replace(/"dur_ms":\d+/, '"dur_ms":1e400')),
    b: Buffer.from(JSON.stringify({ ...validStart(), components: { constructor: 'x' } })),
    c: Buffer.from(JSON.stringify(validStart()).replace(/"components":\{/, '"components":{"__proto__":1,')),
    d: Buffer.from(JSON.stringify(validStart()).replace(/^\{/, '{"__proto__":{"polluted":1},')),
  };
  for (const [k, b] of Object.entries(cases)) { const before = JSON.stringify(stats.totals); p(b, '127.0.0.1'); console.log(k, JSON.stringify(stats.totals)); }
});
