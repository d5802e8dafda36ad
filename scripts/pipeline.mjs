#!/usr/bin/env node
// The `pipeline` command: runs the TypeScript CLI directly through tsx (no build step).
import './register.mjs';

await import('./cli.ts');
