'use strict';
// `make lint`: the runtime as it ships (runtime_js/), its tests, the entry files
// the templates render (checked in the built packages), the demo and the bench.
const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  { ignores: ['node_modules/', 'build/browser-tests/', 'rust_example/target/', 'tests/fixtures/', 'build/*/wbg-pool/', 'build/*/wbg_demo.js'] },
  js.configs.recommended,
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', ecmaVersion: 2023, globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', ecmaVersion: 2023, globals: globals.node },
  },
  {
    // Code that runs in a browser: the browser tests' scenarios, app and in-page harness, the bench's.
    files: ['runtime_js/test/browser/scenarios/**', 'runtime_js/test/browser/vite-app/**', 'runtime_js/test/browser/harness.mjs', 'bench/browser/scenario.mjs'],
    languageOptions: { sourceType: 'module', ecmaVersion: 2023, globals: { ...globals.browser, ...globals.node } },
  },
  {
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
];
