// Bundle the beacon's two entry points (dist/beacon/index.js, dist/beacon/register.js) into one
// file each, after tsc. Why: Node 20 loads every ES module with its own asynchronous read, parse
// and link, ~0.2-0.5 ms each on the reference machine; the emitter's ~19 small modules cost more
// than its whole import budget (bench:beacon), while one file costs one. Source stays split into
// small modules; only the shipped entry points are flattened. No dependency: tsc's ESM output is
// regular enough (imports at the top, `export` on declarations) for this small, strict transform,
// which fails loudly on anything it does not understand. The unbundled modules stay in dist/ for
// the CLI commands.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const IDENT = /^[A-Za-z_$][\w$]*$/;

function parseNames(list) {
  // "a, b as c" → [['a','a'], ['b','c']]  (imported/exported name, local name)
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [from, as = from] = s.split(/\s+as\s+/);
      if (!IDENT.test(from) || !IDENT.test(as)) throw new Error(`cannot bundle binding "${s}"`);
      return [from, as];
    });
}

function loadModule(file, modules, builtins, stack = []) {
  if (modules.has(file)) return modules.get(file);
  if (stack.includes(file)) throw new Error(`import cycle: ${[...stack, file].join(' → ')}`);
  let code = readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const prologue = [];
  const reexports = [];
  const exported = [];
  const dep = (spec) => {
    const target = resolve(dirname(file), spec);
    if (!existsSync(target)) throw new Error(`${file}: cannot resolve ${spec}`);
    return loadModule(target, modules, builtins, [...stack, file]).id;
  };
  const builtin = (spec) => {
    if (!builtins.has(spec)) builtins.set(spec, `__node${builtins.size}`);
    return builtins.get(spec);
  };
  code = code.replace(/^import\s+([\s\S]*?)\s+from\s+'([^']+)';$/gm, (_, clause, spec) => {
    const source = spec.startsWith('.') ? dep(spec) : spec.startsWith('node:') ? builtin(spec) : null;
    if (!source) throw new Error(`${file}: only relative and node: imports can be bundled (${spec})`);
    const named = /^\{([\s\S]*)\}$/.exec(clause.trim());
    const star = /^\*\s+as\s+([\w$]+)$/.exec(clause.trim());
    if (named) prologue.push(`const { ${parseNames(named[1]).map(([a, b]) => (a === b ? a : `${a}: ${b}`)).join(', ')} } = ${source};`);
    else if (star) prologue.push(`const ${star[1]} = ${source};`);
    else if (IDENT.test(clause.trim()) && spec.startsWith('node:')) prologue.push(`const ${clause.trim()} = ${source}.default;`);
    else throw new Error(`${file}: unsupported import clause "${clause}"`);
    return '';
  });
  if (/^\s*import\s/m.test(code)) throw new Error(`${file}: an import statement was not understood`);
  code = code.replace(/^export\s+\*\s+from\s+'([^']+)';$/gm, (_, spec) => {
    reexports.push(`...${dep(spec)}`);
    return '';
  });
  code = code.replace(/^export\s+\{([\s\S]*?)\}\s+from\s+'([^']+)';$/gm, (_, list, spec) => {
    const id = dep(spec);
    for (const [from, as] of parseNames(list)) reexports.push(`${as}: ${id}.${from}`);
    return '';
  });
  code = code.replace(/^export\s+\{([\s\S]*?)\};$/gm, (_, list) => {
    for (const [local, as] of parseNames(list)) exported.push(local === as ? local : `${as}: ${local}`);
    return '';
  });
  code = code.replace(/^export\s+((?:async\s+)?function\*?|const|let|var|class)\s+([\w$]+)/gm, (_, kind, name) => {
    exported.push(name);
    return `${kind} ${name}`;
  });
  if (/^\s*export\s/m.test(code)) throw new Error(`${file}: an export statement was not understood`);
  const id = `__mod${modules.size}`;
  const mod = { id, file, text: '' };
  modules.set(file, mod); // after its dependencies: modules is in dependency order
  mod.text =
    `// ${relative(dist, file)}\nconst ${id} = (() => {\n${prologue.join('\n')}\n${code.trim()}\n` +
    `return Object.freeze({ ${[...reexports, ...exported].join(', ')} });\n})();\n`;
  return mod;
}

function bundle(entryRel) {
  const entry = join(dist, entryRel);
  const modules = new Map();
  const builtins = new Map();
  const top = loadModule(entry, modules, builtins);
  const names = Object.keys(
    // The entry's export names, read back from the tsc output it replaces.
    Object.fromEntries([...readFileSync(entry, 'utf8').matchAll(/^export\s+(?:(?:async\s+)?function\*?|const|let|var|class)\s+([\w$]+)|^export\s+\{([\s\S]*?)\}/gm)]
      .flatMap((m) => (m[1] ? [m[1]] : parseNames(m[2]).map(([, as]) => as)))
      .map((n) => [n, true])),
  );
  const out =
    `// Bundled by scripts/bundle-beacon.mjs from the tsc output of src/beacon and src/protocol; see there for why.\n` +
    [...builtins].map(([spec, id]) => `import * as ${id} from '${spec}';`).join('\n') +
    '\n' +
    [...modules.values()].map((m) => m.text).join('\n') +
    (names.length ? `export const { ${names.join(', ')} } = ${top.id};\n` : '');
  return { entry, out, modules: modules.size };
}

// `--out <dir>` writes the bundles under <dir> instead of over dist/ (the benchmark uses it).
const outFlag = process.argv.indexOf('--out');
const outDir = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : dist;
const HEADER = '// Bundled by scripts/bundle-beacon.mjs';
const entries = ['beacon/index.js', 'beacon/register.js'];
for (const e of entries) {
  const p = join(dist, e);
  if (!existsSync(p)) throw new Error(`run tsc first: dist/${e} is missing`);
  if (readFileSync(p, 'utf8').startsWith(HEADER)) throw new Error(`dist/${e} is already bundled: run tsc first`);
}
// All bundles are built from tsc's output before any is written (register.js imports index.js).
for (const b of entries.map(bundle)) {
  const target = join(outDir, relative(dist, b.entry));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, b.out);
  process.stdout.write(`bundled ${target} (${b.modules} modules)\n`);
}
