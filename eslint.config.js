// ESLint (flat config): eslint's and typescript-eslint's recommended rules, not type-aware (fast:
// no type information is built; `npm run typecheck` does the type checks). `npm run lint`.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals, for the plain JavaScript files (TypeScript files get them from @types/node). */
const node = Object.fromEntries(
  ['process', 'console', 'Buffer', 'URL', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'structuredClone'].map((g) => [
    g,
    'readonly',
  ]),
);

/** The browser globals the console's page scripts use. */
const browser = Object.fromEntries(
  [
    'window',
    'document',
    'fetch',
    'console',
    'URL',
    'URLSearchParams',
    'FormData',
    'EventSource',
    'localStorage',
    'sessionStorage',
    'location',
    'history',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'requestAnimationFrame',
    'performance',
    'HTMLElement',
    'Event',
    'CustomEvent',
    'Blob',
    'alert',
    'confirm',
    'prompt',
    'navigator',
    'getComputedStyle',
    'AbortController',
    'TextDecoderStream',
    'Option',
  ].map((g) => [g, 'readonly']),
);

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', 'dist-test-*/', 'models/', 'tmp/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  { files: ['**/*.js', '**/*.mjs'], ignores: ['console/**'], languageOptions: { globals: node } },
  // The console's page scripts run in the browser.
  { files: ['console/**/*.js'], languageOptions: { globals: browser } },
  {
    rules: {
      // `_`-prefixed names are unused on purpose (destructuring a field away, an unused parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // A variable a callback reads, assigned once after the callback is set up (e.g. a signal handler in place first).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
