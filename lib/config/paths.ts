/**
 * Paths in a config file are relative to the file's folder, never to the process's current
 * directory: `pipeline start --config /etc/x/pipeline.json` reads the same files from anywhere
 * (a relative `settings.modelsDir` had been read from wherever the command ran). The same rule as
 * `module:<path>` stage kinds and sinks (lib/worker/modules.ts).
 */
import { dirname, isAbsolute, resolve } from 'node:path';

/** The folder a config's relative paths start from: the config file's; the current directory for a config given inline (`<inline>`). */
export function configBase(source: string): string {
  return source.startsWith('<') ? process.cwd() : dirname(resolve(source));
}

/**
 * `settings` with each of `paths` (dotted: `index.dir`) that holds a non-empty relative path made
 * absolute against `base`. Other values (absolute, missing, not a string) are left as they are; the
 * objects given are not changed (nested ones on the way are copied).
 */
export function resolveSettingPaths(settings: Readonly<Record<string, unknown>>, paths: readonly string[], base: string): Record<string, unknown> {
  let out: Record<string, unknown> = settings;
  for (const path of paths) out = resolveAt(out, path.split('.'), base);
  return out;
}

function resolveAt(obj: Record<string, unknown>, parts: readonly string[], base: string): Record<string, unknown> {
  const [head, ...rest] = parts as [string, ...string[]];
  const v = obj[head];
  if (rest.length === 0) {
    if (typeof v !== 'string' || v === '' || isAbsolute(v)) return obj;
    return { ...obj, [head]: resolve(base, v) };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return obj;
  const inner = resolveAt(v as Record<string, unknown>, rest, base);
  return inner === v ? obj : { ...obj, [head]: inner };
}
