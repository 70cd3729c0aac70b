// ESLint: typescript-eslint's recommended type-checked rules on the TypeScript sources and tests.
// Formatting is Prettier's (npm run format:check); import layers are dependency-cruiser's
// (.dependency-cruiser.cjs). Both run in `npm run lint`, which CI runs before the tests.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/', 'bench/out/', 'demo-out/', '**/*.mjs', '**/*.cjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are deliberately unused (a parameter kept for an interface's shape).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Async by contract, not by body: commands are async functions (the CLI awaits them all the
      // same way) and QueryRunner/RunStore methods are async even where better-sqlite3 is not.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read JSON a child process printed and rows a query returned: that data is what is
    // under test, typed `any` on purpose, and the assertions check its shape.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
);
