// tsc copies only .ts output; the JSON Schema and other non-TS assets under src/ are read at
// run time relative to their module, so they must sit beside the compiled JS in dist/.
import { cpSync, readdirSync, statSync, mkdirSync, chmodSync, existsSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const assetExt = /\.(json|sql)$/;

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (assetExt.test(name)) {
      const out = join(dist, relative(src, p));
      mkdirSync(dirname(out), { recursive: true });
      cpSync(p, out);
    }
  }
}
walk(src);
for (const bin of ['cli/beacon.js', 'cli/reports.js']) {
  const p = join(dist, bin);
  if (existsSync(p)) chmodSync(p, 0o755);
}
