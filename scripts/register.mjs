// How every entry point loads the project: TypeScript through tsx, and ES modules from
// node_modules straight from disk (skip-node-modules.mjs), so tsx does not transform and keep
// large dependencies such as transformers.js (about 150 MB per process otherwise); the package's own
// `exports` resolve to the sources (source-condition.mjs).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./skip-node-modules.mjs', import.meta.url);
register('./source-condition.mjs', import.meta.url);
