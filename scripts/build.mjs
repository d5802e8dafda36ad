#!/usr/bin/env node
// `npm run build` (and npm's `prepare`, so `npm ci` builds too): compile the runtime and the CLI to
// dist/ with tsc -p tsconfig.build.json, then copy the files the compiled code reads beside itself
// (lib/lua/*.lua and lib/lua/shared/*.lua, stages/sinks/migrations/*.sql). Data that is not built (config/, models/) is
// found from the package root instead (lib/core/root.ts). dist/ is removed first: never stale parts.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
// --out-dir <dir> (test/repo/build.test.ts): build elsewhere; it must lie inside the package, so the
// package root (lib/core/root.ts) is found above it as from dist/.
const at = process.argv.indexOf('--out-dir');
const dist = at > 0 ? resolve(process.argv[at + 1]) : join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit', cwd: root });

const ASSETS = [
  ['lib/lua', '.lua'],
  ['lib/lua/shared', '.lua'],
  ['stages/sinks/migrations', '.sql'],
];
let copied = 0;
for (const [dir, ext] of ASSETS) {
  mkdirSync(join(dist, dir), { recursive: true });
  for (const f of readdirSync(join(root, dir)).filter((n) => n.endsWith(ext))) {
    copyFileSync(join(root, dir, f), join(dist, dir, f));
    copied++;
  }
}
chmodSync(join(dist, 'scripts/cli.js'), 0o755);
process.stdout.write(`build: ${dist} compiled, ${copied} asset files copied\n`);
