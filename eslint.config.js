// ESLint: typescript-eslint with type information over every TypeScript and Svelte file. The rules
// that matter most here are the promise rules (an unawaited promise is this code's main hazard)
// and the import boundaries between runtimes and folders (README "Layout"). Formatting is
// Prettier's job: no stylistic rules here.
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import tseslint from 'typescript-eslint';
import svelteConfig from './svelte.config.js';

// Import boundaries (README "Layout"). The core (src/, but src/node/ and modules named *.node.ts or
// *.browser.ts) runs unchanged in browsers and Node; a runtime-specific module is marked by its
// folder (src/node/: the Node programs) or its name (src/store/fs.node.ts, src/store/idb.browser.ts).
// Folders depend one way: web/ and signaling/ on the core, src/node/ on the core and signaling/.
const nodeOnly = { group: ['node:*', 'ws'], message: 'Node-only: allowed in src/node/, *.node.ts and signaling/.' };
const intoWeb = { group: ['**/web/**'], message: 'web/ is the page: nothing outside it imports it.' };
const intoSignaling = {
  group: ['**/signaling/**'],
  message: 'Only src/node/ (the programs) imports the signaling server.',
};
const intoNodePrograms = {
  group: ['**/src/node/**', '../node/*', '../../node/*'],
  message: 'src/node/ is the Node programs: only they import it.',
};
const nodeModules = { group: ['**/*.node.js'], message: 'A *.node.ts module runs in Node only.' };
const browserModules = { group: ['**/*.browser.js'], message: 'A *.browser.ts module runs in browsers only.' };
const restrictImports = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });
const domOnly = [
  'window',
  'document',
  'navigator',
  'location',
  'localStorage',
  'sessionStorage',
  'indexedDB',
  'IDBKeyRange',
  'DOMException',
  'HTMLElement',
  'self',
].map((name) => ({ name, message: 'A DOM global: only in web/ and *.browser.ts.' }));
const nodeGlobals = ['process', 'Buffer', 'global', '__dirname', '__filename', 'require'].map((name) => ({
  name,
  message: 'A Node global: only in src/node/, *.node.ts and signaling/.',
}));
const runtimeMarked = ['src/node/**', 'src/**/*.node.ts', 'src/**/*.browser.ts'];

/** An eslint-disable comment must say why after ` -- `, like every other silenced check here. */
const disableNeedsReason = {
  meta: { type: 'problem', schema: [], messages: { reason: 'Say why after " -- " in an eslint-disable comment.' } },
  create(context) {
    return {
      Program() {
        for (const comment of context.sourceCode.getAllComments()) {
          const text = comment.value.trim();
          if (/^eslint-disable/.test(text) && !/\s--\s+\S/.test(text)) {
            context.report({ loc: comment.loc, messageId: 'reason' });
          }
        }
      },
    };
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  svelte.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        extraFileExtensions: ['.svelte'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, svelteConfig } },
  },
  {
    // The service worker has its own compiler options (WebWorker, no DOM).
    files: ['web/sw.ts'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.sw.json' } },
  },
  {
    plugins: { mycel: { rules: { 'disable-needs-reason': disableNeedsReason } } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'mycel/disable-needs-reason': 'error',
      // A promise nobody awaits ends in .catch(): a handler that reports, or an empty one whose body
      // says why nothing needs doing (no-empty-function below). `void promise` hides it: refused.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-empty-function': ['error', { allow: ['methods', 'private-constructors'] }],
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: true },
      ],
      '@typescript-eslint/only-throw-error': 'error',
      // `let x; ...closures reading x...; x = make(...)`: the closures run only after.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Off, with why: values typed `any` arrive only from JSON.parse (peers' messages are checked by
      // the schemas in src/net/schema.ts before they are typed; tests read their own JSON) and from
      // simple-peer's untyped internals, each cast at one place.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      // Off: wire bytes are compared with const enums (FrameType, BlockKind) on purpose.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Off: interface implementations (a Map-backed Library, a memory store) return promises from
      // synchronous code so they fit the interface; an async without await is not a mistake there.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: runtimeMarked,
    rules: {
      ...restrictImports(nodeOnly, intoWeb, intoSignaling, intoNodePrograms, nodeModules, browserModules),
      'no-restricted-globals': ['error', ...domOnly, ...nodeGlobals],
    },
  },
  {
    files: ['src/**/*.browser.ts'],
    rules: {
      ...restrictImports(nodeOnly, intoWeb, intoSignaling, intoNodePrograms, nodeModules),
      'no-restricted-globals': ['error', ...nodeGlobals],
    },
  },
  {
    files: ['src/node/**/*.ts', 'src/**/*.node.ts'],
    rules: { ...restrictImports(intoWeb, browserModules), 'no-restricted-globals': ['error', ...domOnly] },
  },
  {
    files: ['signaling/**/*.ts'],
    rules: {
      ...restrictImports(intoWeb, intoNodePrograms, browserModules),
      'no-restricted-globals': ['error', ...domOnly],
    },
  },
  {
    files: ['web/**/*.ts', 'web/**/*.svelte'],
    rules: {
      ...restrictImports(nodeOnly, intoSignaling, intoNodePrograms, nodeModules),
      'no-restricted-globals': ['error', ...nodeGlobals],
    },
  },
  {
    // Code run inside a page by page.evaluate reaches the globals the bench put there, untyped.
    files: ['test/bench/browsers.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Svelte components are type-checked by svelte-check; their globals are the browser's.
    files: ['**/*.svelte'],
    rules: { 'no-undef': 'off', 'prefer-const': 'off', 'svelte/prefer-const': 'error' },
  },
);
