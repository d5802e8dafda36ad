import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The nearest folder at or above `from` that holds a package.json. */
export function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/**
 * The package root (the repository checkout, or node_modules/streamline-enrich): the same folder
 * whether this runs from the TypeScript sources (lib/core/) or compiled (dist/lib/core/), so data
 * that is not built (config/, models/) is found from both.
 */
export const PACKAGE_ROOT = findPackageRoot(import.meta.dirname);
