import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../core/root.js';

/**
 * The page's files (console/ at the package root, from the sources and from the compiled dist/
 * alike): plain HTML, CSS and ES modules, no build step.
 */
export const CONSOLE_DIR = resolve(PACKAGE_ROOT, 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface Asset {
  body: Buffer;
  type: string;
}

/**
 * Every file under `dir`, read once at start (the console is a few tens of kB): served from
 * memory by exact path, so no request can name a file outside the folder.
 */
export function loadAssets(dir = CONSOLE_DIR): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (TYPES[extname(name)]) out.set(relative(dir, p).split('\\').join('/'), { body: readFileSync(p), type: TYPES[extname(name)]! });
    }
  };
  walk(dir);
  return out;
}
