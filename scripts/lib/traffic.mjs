// Traffic for the soak and crash scripts (scripts/soak.mjs, scripts/crash.mjs): run as a child
// process, it sends a paced mix of datagrams to a receiver on loopback and, on SIGTERM or when its
// time is up, prints one JSON line with what it sent, by kind.
//
//   node scripts/lib/traffic.mjs '{"port":50077,"rate":2000,"seconds":60,"mix":"soak"}'
//
// Mixes:
//   soak  — per valid run four datagrams (start and end, each twice, as the beacon sends them),
//           Parsl format-1 and legacy runs (start + end), hostile datagrams of five kinds, and a
//           flood from another source network (127.0.99.1) at 3× the receiver's --rate-limit.
//           Valid traffic comes from 16 source networks (127.0.<n>.1), each under the limit.
//   crash — unique native starts, one per run, whose run ID is a UUIDv7 carrying the send time in
//           ms (the crash script measures its loss window from it). Sent from 127.0.0.1.
import { createSocket } from 'node:dgram';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunEncoder } from '../../dist/protocol/index.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIX = path.join(ROOT, 'test/fixtures/parsl');

/** A UUIDv7 whose 48-bit timestamp is `ms` (version 7, RFC 9562 variant). */
export function uuidv7(ms, rand = randomBytes(10)) {
  const hex =
    ms.toString(16).padStart(12, '0') +
    '7' +
    rand.toString('hex').slice(0, 3) +
    ((rand[2] & 0x3) | 0x8).toString(16) +
    rand.toString('hex').slice(4, 19);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The send time (ms) a crash-mix run ID carries. */
export function uuidv7Ms(run) {
  return parseInt(run.slice(0, 8) + run.slice(9, 13), 16);
}

function nativeRun(runId = randomUUID()) {
  return createRunEncoder({
    run: runId,
    project: 'soak',
    version: '1.0.0',
    user: randomBytes(16).toString('hex'),
    host: randomBytes(16).toString('hex'),
    script: randomBytes(16).toString('hex'),
    runtime: 'node/20',
    os: 'linux',
    arch: 'x64',
    ci: false,
    components: { workers: 4 },
  });
}

function parslTemplates() {
  const v1Start = readFileSync(path.join(FIX, 'v1-level3-start.txt'), 'utf8').trim();
  const v1End = readFileSync(path.join(FIX, 'v1-level3-end.txt'), 'utf8').trim();
  const legacyStart = JSON.parse(readFileSync(path.join(FIX, 'legacy-start.json'), 'utf8'));
  const legacyEnd = JSON.parse(readFileSync(path.join(FIX, 'legacy-end.json'), 'utf8'));
  return {
    v1(run, nowS) {
      const s = JSON.parse(v1Start.slice(1));
      const e = JSON.parse(v1End.slice(1));
      s.correlator = run;
      e.correlator = run;
      if ('start' in s) s.start = nowS;
      e.end = nowS + 60;
      return [Buffer.from('1' + JSON.stringify(s)), Buffer.from('1' + JSON.stringify(e))];
    },
    legacy(run, nowS) {
      return [
        Buffer.from(JSON.stringify({ ...legacyStart, uuid: run, start: nowS })),
        Buffer.from(JSON.stringify({ ...legacyEnd, uuid: run, end: nowS + 60 })),
      ];
    },
  };
}

const HOSTILE = {
  random: () => randomBytes(1 + Math.floor(Math.random() * 300)),
  oversized: () => Buffer.alloc(9000, 0x7b),
  not_json: () => Buffer.from('{"v":1,"kind":"start","run":'),
  schema: () => Buffer.from(JSON.stringify({ v: 1, kind: 'start', run: 'not-a-uuid', project: 7 })),
  proto: () => Buffer.from('{"v":1,"kind":"start","__proto__":{"x":1}}'),
};

/** One tick's worth of datagrams for the soak mix: [{buf, from, kind}] */
function soakTick(n, p, rateLimit, tickMs) {
  const out = [];
  const now = Date.now();
  const nowS = Math.floor(now / 1000);
  for (let i = 0; i < n; i++) {
    const from = `127.0.${1 + (i % 16)}.1`;
    const pick = Math.random();
    if (pick < 0.55) {
      const e = nativeRun();
      // Copies: the encoder reuses its buffer from one datagram to the next.
      const s = Buffer.from(e.start(now));
      const d = Buffer.from(e.end(now + 1000, 0, 1000));
      out.push(
        { buf: s, from, kind: 'valid' },
        { buf: s, from, kind: 'duplicate' },
        { buf: d, from, kind: 'valid' },
        { buf: d, from, kind: 'duplicate' },
      );
      i += 3;
    } else if (pick < 0.7) {
      const [s, e] = p.v1(randomUUID(), nowS);
      out.push({ buf: s, from, kind: 'parsl' }, { buf: e, from, kind: 'parsl' });
      i += 1;
    } else if (pick < 0.8) {
      const [s, e] = p.legacy(randomUUID(), nowS);
      out.push({ buf: s, from, kind: 'parsl' }, { buf: e, from, kind: 'parsl' });
      i += 1;
    } else {
      const names = Object.keys(HOSTILE);
      const k = names[Math.floor(Math.random() * names.length)];
      out.push({ buf: HOSTILE[k](), from, kind: `hostile.${k}` });
    }
  }
  // The flood: 3× the per-network limit from one network, valid datagrams of one run.
  if (rateLimit > 0) {
    const s = Buffer.from(nativeRun().start(now));
    for (let i = 0; i < Math.round((rateLimit * 3 * tickMs) / 1000); i++) out.push({ buf: s, from: '127.0.99.1', kind: 'flood' });
  }
  return out;
}

function crashTick(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const now = Date.now();
    const id = uuidv7(now);
    out.push({ buf: Buffer.from(nativeRun(id).start(now)), from: '127.0.0.1', kind: 'valid', id });
  }
  return out;
}

async function main() {
  const o = JSON.parse(process.argv[2]);
  const tickMs = 10;
  const sockets = new Map();
  const socketFor = async (from) => {
    let s = sockets.get(from);
    if (!s) {
      s = createSocket('udp4');
      await new Promise((r, j) => s.bind(0, from, r).once('error', j));
      sockets.set(from, s);
    }
    return s;
  };
  const sent = {};
  let total = 0;
  let sendErrors = 0;
  const p = parslTemplates();
  let stop = false;
  const finish = () => {
    if (stop) return;
    stop = true;
    for (const s of sockets.values()) s.close();
    process.stdout.write(JSON.stringify({ sent: total, byKind: sent, sendErrors }) + '\n');
  };
  process.on('SIGTERM', finish);
  const t0 = Date.now();
  let due = 0;
  while (!stop && (o.seconds === undefined || Date.now() - t0 < o.seconds * 1000)) {
    const elapsed = Date.now() - t0;
    const want = Math.floor((elapsed / 1000) * o.rate) - due;
    if (want > 0) {
      const batch = o.mix === 'crash' ? crashTick(want) : soakTick(want, p, o.rateLimit ?? 0, Math.max(tickMs, (want * 1000) / o.rate));
      due += want;
      for (const d of batch) {
        const s = await socketFor(d.from);
        // Counted when the kernel took it: what the receiver's books must account for.
        const ok = await new Promise((r) => s.send(d.buf, o.port, '127.0.0.1', (e) => r(!e)));
        if (!ok) {
          sendErrors++;
          continue;
        }
        sent[d.kind] = (sent[d.kind] ?? 0) + 1;
        total++;
      }
      // The crash script needs every run it sent (and when): one line per tick, IDs only.
      if (o.mix === 'crash') process.stdout.write(`ids ${batch.map((d) => d.id).join(' ')}\n`);
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  finish();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
