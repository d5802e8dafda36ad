/**
 * Model provenance: a content hash of a model folder's files, so a stored product records exactly
 * which model produced it (`<name>@sha256:<first 16 hex>`), not just a name that a rebuild reuses.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../core/root.js';

/** `<repo>/models/`, where the builder writes the shipped models (here, not in loader.ts, so reading a version loads no transformers.js). */
export const DEFAULT_MODEL_PATH = `${resolve(PACKAGE_ROOT, 'models')}/`;

/** The model's files: hidden ones (`.git/`, `.gitattributes`, `.DS_Store`) are a checkout's or a desktop's, not the model's, and change on their own. */
function files(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : [path];
    })
    .sort();
}

/** SHA-256 over each file's relative path and bytes, in path order (hidden files and folders left out); null when `dir` does not exist. */
export function modelContentHash(dir: string): string | null {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null;
  const h = createHash('sha256');
  for (const f of files(dir)) {
    h.update(relative(dir, f).split('\\').join('/'));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

/** `<name>@sha256:<16 hex>`, or the bare name when the files are not local (hub model). */
export function modelVersion(name: string, modelsDir: string): string {
  const hash = modelContentHash(join(modelsDir, name));
  return hash === null ? name : `${name}@sha256:${hash.slice(0, 16)}`;
}

/** The model name of a stored provenance entry: `product-category@sha256:…` (or `…+weights:…`, a classify stage's category weights) → `product-category`. */
export function modelNameOf(version: string): string {
  const at = version.search(/@|\+weights:/);
  return at < 0 ? version : version.slice(0, at);
}
