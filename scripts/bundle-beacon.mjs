// Bundle the beacon's published entry points after tsc, with esbuild. Why: Node 20 loads every ES
// module with its own read, parse and link (~0.2-0.5 ms each on the reference machine), and compiling
// the beacon's code is most of what it costs its host (bench:beacon). So the shipped beacon is three
// files, whatever the source's small modules:
//   dist/beacon/core.js      the whole beacon (src/beacon/core-exports.ts: index.ts and below, and
//                            the compile cache's writer) as one script, compiled with V8's code
//                            cache by the entry points (src/beacon/code-cache.ts);
//   dist/beacon/index.js     the entry point (src/beacon/entry.ts): consent check and cache loader;
//   dist/beacon/register.js  the same for `node --import usage-beacon/register`;
//   dist/beacon/direct.js    the whole beacon as one plain ES module (`usage-beacon/direct`), for
//                            programs that bundle their dependencies (no compile cache).
// Only node:* stays external. The unbundled modules stay in dist/ for the CLI commands.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const HEADER = '// Bundled by scripts/bundle-beacon.mjs';
const banner = `${HEADER} with esbuild from the tsc output of src/beacon and src/protocol; see there for why.`;
export const CORE_FILE = 'core.js';

// `--out <dir>` writes the bundles under <dir> instead of over dist/ (the benchmark uses it).
const outFlag = process.argv.indexOf('--out');
const outDir = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : dist;

for (const entry of ['beacon/index.js', 'beacon/register.js', 'beacon/entry.js', 'beacon/core-exports.js']) {
  const p = join(dist, entry);
  if (!existsSync(p)) throw new Error(`dist/${entry} is missing: run tsc first`);
  if (readFileSync(p, 'utf8').startsWith(HEADER)) throw new Error(`dist/${entry} is already bundled: run tsc first`);
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // Anything but node:* on the beacon's import path is a bug (it must stay dependency-free).
  external: ['node:*'],
  legalComments: 'none',
  logLevel: 'warning',
  // Minified: V8 scans every character of the entry point on each import, and of the core whenever
  // it compiles a function the compile cache lacks, and shorter code makes less bytecode to
  // deserialize: the beacon adds ~0.5 M fewer instructions to a run (bench:beacon-instr). Exported
  // names stay; nothing here is read by people (the sources and tsc's dist/ modules are).
  minify: true,
};

// The core: esbuild's ES module output, made one function expression that returns the exports (a
// vm.Script has no import/export). Read before anything is written: index.js is replaced below.
// Built from core-exports.js: the API plus the compile cache's writer (src/beacon/core-exports.ts).
const esm = await build({ ...common, entryPoints: [join(dist, 'beacon/core-exports.js')], format: 'esm', write: false });
const text = esm.outputFiles[0].text;
const direct = await build({ ...common, entryPoints: [join(dist, 'beacon/index.js')], format: 'esm', write: false });
// The final export list: `export { a, b as c };` (minified: `export{a,b as c};`, maybe on the last line).
const exportList = /(?:^|[\n;}])export\s*\{([^}]*)\};?\s*$/.exec(text);
const exportAt = exportList ? exportList.index + (exportList[0].startsWith('export') ? 0 : 1) : -1;
if (!exportList) throw new Error('bundle-beacon: unexpected esbuild output (no final export list)');
const exported = exportList[1]
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean)
  .map((s) => {
    const [local, as] = s.split(/\s+as\s+/);
    return as ? `${as}: ${local}` : local;
  });
const core = `${banner}\n(function () {\n'use strict';\n${text.slice(0, exportAt)}\nreturn { ${exported.join(', ')} };\n})\n`;
// Names the cache file: V8 itself only compares the source's length.
const coreId = createHash('sha256').update(core).digest('hex').slice(0, 16);

// The compile cache stores the core's text as one byte per character (src/beacon/code-cache.ts).
// esbuild escapes anything else by default (charset ascii); this says so if that ever changes.
if (/[^\x00-\x7f]/.test(core)) throw new Error('bundle-beacon: the core must be ASCII (src/beacon/code-cache.ts)');
const define = {
  BEACON_CORE_FILE: JSON.stringify(CORE_FILE),
  BEACON_CORE_ID: JSON.stringify(coreId),
  BEACON_CORE_LENGTH: String(core.length),
};
const entry = join(dist, 'beacon/entry.js');
// register.js imports ./index.js: in the bundle, that is the entry point, not the core.
const toEntry = {
  name: 'index-is-entry',
  setup(b) {
    b.onResolve({ filter: /^\.\/index\.js$/ }, () => ({ path: entry }));
  },
};
const [index, register] = await Promise.all(
  [entry, join(dist, 'beacon/register.js')].map((p) =>
    build({ ...common, entryPoints: [p], format: 'esm', define, plugins: [toEntry], banner: { js: banner }, write: false }),
  ),
);
mkdirSync(join(outDir, 'beacon'), { recursive: true });
writeFileSync(join(outDir, 'beacon', CORE_FILE), core);
writeFileSync(join(outDir, 'beacon/index.js'), index.outputFiles[0].text);
writeFileSync(join(outDir, 'beacon/register.js'), register.outputFiles[0].text);
// usage-beacon/direct: the same beacon as one plain ES module, for programs that bundle their
// dependencies into one file (where core.js would not be next to the entry point): no compile cache.
writeFileSync(join(outDir, 'beacon/direct.js'), `${banner}\n${direct.outputFiles[0].text}`);

// tsc's maps of the two entry points describe the files the bundles replaced: a published map must
// match its file (and carry its sources, which the other maps do: inlineSources in tsconfig.build).
if (outDir === dist) for (const name of ['index', 'register']) rmSync(join(dist, 'beacon', `${name}.js.map`), { force: true });
