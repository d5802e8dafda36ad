#!/usr/bin/env node
// The `pipeline` command from the TypeScript sources, through tsx: the development entry
// (`npm run dev -- <command>`; tests and the workers they start run it). Production runs the
// compiled dist/scripts/cli.js (`npm run build`), the package's bin (docs/development.md).
import './register.mjs';

await import('./cli.ts');
