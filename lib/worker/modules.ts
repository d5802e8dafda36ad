/**
 * Stage kinds and sinks from the user's own modules: `"kind": "module:./my-stages/price.js"` (or a
 * store stage's `"settings": { "sink": "module:./my-sink.js" }`), a path relative to the config
 * file, or a package name. Loaded once at start; what a module exports is checked, and a module
 * that lacks what it must export is a ConfigError naming the stage (docs/extending.md).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { configBase } from '../config/paths.js';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import type { Stage, StageContext, StageFactory } from './stage.js';

export const MODULE_PREFIX = 'module:';

export const isModuleSpec = (spec: string): boolean => spec.startsWith(MODULE_PREFIX);

/** Where `module:<path>` points: relative paths from the config file's folder (lib/config/paths.ts), else a package name. */
export function moduleUrl(spec: string, configSource: string): string {
  const path = spec.slice(MODULE_PREFIX.length);
  if (path.startsWith('.') || isAbsolute(path)) return pathToFileURL(resolve(configBase(configSource), path)).href;
  return path;
}

/**
 * A module outside the checkout finds `streamline-enrich` only in the node_modules above it, not in
 * the CLI's: say how to link it in, as Node's "Cannot find package" does not.
 */
function linkHint(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes("'streamline-enrich'")) return '';
  return ` (link the package into the module's folder: npm install <this checkout> there, or npm link; docs/extending.md)`;
}

/** Import `module:<path>` and return its export `name` (or the default export), which must be a function. */
export async function importFactory(spec: string, configSource: string, where: string, name: string): Promise<(ctx: StageContext) => unknown> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(moduleUrl(spec, configSource))) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(where, `cannot load ${spec}: ${(err as Error).message}${linkHint(err)}`);
  }
  const factory = mod[name] ?? mod.default;
  if (typeof factory !== 'function') {
    const has = Object.keys(mod).join(', ') || 'nothing';
    throw new ConfigError(where, `${spec} must export a function ${name}(ctx) (or a default export); it exports ${has}`);
  }
  return factory as (ctx: StageContext) => unknown;
}

/**
 * Call a user module's factory: what it throws (a setting it misreads, `ctx.settings` for
 * `ctx.stage.settings`) becomes a ConfigError naming the stage and the module, not a bare
 * `TypeError` that names neither. A ConfigError of its own goes on as it is.
 */
export function callFactory(factory: (ctx: StageContext) => unknown, ctx: StageContext, spec: string, where: string, name: string): unknown {
  try {
    return factory(ctx);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(where, `${spec}: ${name}(ctx) threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

/** What a user module's factory returned must be a `Stage`: `kind` a string, `process` (and `init`/`close` if given) functions. */
export function checkStage(value: unknown, where: string): Stage {
  const s = value as Partial<Record<keyof Stage, unknown>> | null;
  if (typeof s !== 'object' || s === null) throw new ConfigError(where, `the stage factory returned ${s === null ? 'null' : typeof s}, not a Stage`);
  const missing: string[] = [];
  if (typeof s.kind !== 'string') missing.push('kind (string)');
  if (typeof s.process !== 'function') missing.push('process(batch) (function)');
  for (const opt of ['init', 'close'] as const) if (s[opt] !== undefined && typeof s[opt] !== 'function') missing.push(`${opt} (function, if given)`);
  if (missing.length) throw new ConfigError(where, `not a Stage (lib/worker/stage.ts): missing or wrong ${missing.join(', ')}`);
  return value as Stage;
}

/**
 * Load the `module:` stage kinds `stages` use: kind → a factory that calls the module's
 * `createStage` (or default export) and checks that it returned a Stage.
 */
export async function loadModuleStages(config: ResolvedConfig, stages: readonly ResolvedStage[] = config.stages): Promise<Record<string, StageFactory>> {
  const out: Record<string, StageFactory> = {};
  for (const stage of stages) {
    if (!isModuleSpec(stage.kind) || out[stage.kind]) continue;
    const where = `stages.${stage.name}.kind`;
    const factory = await importFactory(stage.kind, config.source, where, 'createStage');
    out[stage.kind] = (ctx) =>
      checkStage(callFactory(factory, ctx, stage.kind, `stages.${ctx.stage.name}.kind`, 'createStage'), `stages.${ctx.stage.name}.kind (${stage.kind})`);
  }
  return out;
}
