/**
 * The import layers of src/ (docs/architecture.md). Run by `npm run lint` (and so by CI): an import
 * that points back up a layer, or any cycle, fails the build.
 *
 *   cli → commands → receiver | reports | retention | relay → store | beacon → protocol → errors
 *
 * retention (prune) computes the reports' rollups, so it sits above reports; the receiver and the
 * reports never import each other; the beacon (shipped inside other programs) imports nothing but
 * the protocol and errors.
 */
const layer = (name, mayImport) => ({
  name: `${name}-imports-down`,
  comment: `src/${name} may import only ${mayImport.join(', ') || 'nothing else in src'} (and itself)`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: {
    path: '^src/',
    pathNot: [`^src/${name}/`, ...mayImport.map((m) => (m === 'errors' ? '^src/errors\\.ts$' : `^src/${m}/`))],
  },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle anywhere in src/.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'errors-imports-nothing',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/', pathNot: '^src/errors\\.ts$' },
    },
    layer('protocol', ['errors']),
    layer('store', ['protocol', 'errors']),
    layer('beacon', ['protocol', 'errors']),
    layer('receiver', ['store', 'protocol', 'errors']),
    layer('reports', ['store', 'protocol', 'errors']),
    layer('relay', ['receiver', 'beacon', 'store', 'protocol', 'errors']),
    layer('retention', ['reports', 'store', 'protocol', 'errors']),
    layer('commands', ['receiver', 'reports', 'retention', 'relay', 'beacon', 'store', 'protocol', 'errors']),
    layer('cli', ['commands', 'store', 'errors']),
    {
      name: 'store-backends-apart',
      comment: 'store/sqlite and store/postgres implement the same contracts (src/store/*.ts) and never import each other.',
      severity: 'error',
      from: { path: '^src/store/(sqlite|postgres)/' },
      to: { path: '^src/store/(sqlite|postgres)/', pathNot: '^src/store/$1/' },
    },
    {
      name: 'store-contracts-know-no-backend',
      comment:
        'The contracts in src/store/*.ts (types, query runner, columns, counters, location) import no backend; only the openers (open-store.ts, settler.ts) do.',
      severity: 'error',
      from: { path: '^src/store/[^/]+\\.ts$', pathNot: '^src/store/(open-store|settler)\\.ts$' },
      to: { path: '^src/store/(sqlite|postgres)/' },
    },
    {
      name: 'cli-loads-commands-lazily',
      comment: 'The CLI only declares commands; each action imports its command module dynamically, so --help stays instant.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/commands/', dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
    {
      name: 'tests-and-benches-stay-out-of-src',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^dist/|\\.json$)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
