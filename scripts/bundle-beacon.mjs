// Bundle the beacon's two entry points (dist/beacon/index.js, dist/beacon/register.js) into one
// file each, after tsc, with esbuild. Why: Node 20 loads every ES module with its own read, parse
// and link, ~0.2-0.5 ms each on the reference machine; the emitter's ~19 small modules cost more
// than its whole import budget (bench:beacon), while one file costs one. Source stays split into
// small modules; only the shipped entry points are flattened, and only node:* stays external.
// The unbundled modules stay in dist/ for the CLI commands.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const HEADER = '// Bundled by scripts/bundle-beacon.mjs';

// `--out <dir>` writes the bundles under <dir> instead of over dist/ (the benchmark uses it).
const outFlag = process.argv.indexOf('--out');
const outDir = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : dist;

for (const entry of ['beacon/index.js', 'beacon/register.js']) {
  const p = join(dist, entry);
  if (!existsSync(p)) throw new Error(`dist/${entry} is missing: run tsc first`);
  if (readFileSync(p, 'utf8').startsWith(HEADER)) throw new Error(`dist/${entry} is already bundled: run tsc first`);
}
// Both builds read the tsc output before either writes (register.js imports index.js).
await Promise.all(
  ['index', 'register'].map((name) =>
    build({
      entryPoints: [join(dist, 'beacon', `${name}.js`)],
      outfile: join(outDir, 'beacon', `${name}.js`),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Anything but node:* on the beacon's import path is a bug (it must stay dependency-free).
      external: ['node:*'],
      banner: { js: `${HEADER} with esbuild from the tsc output of src/beacon and src/protocol; see there for why.` },
      allowOverwrite: true,
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ),
);

// tsc's maps of the two entry points describe the files the bundles replaced: a published map must
// match its file (and carry its sources, which the other maps do: inlineSources in tsconfig.build).
if (outDir === dist) for (const name of ['index', 'register']) rmSync(join(dist, 'beacon', `${name}.js.map`), { force: true });
