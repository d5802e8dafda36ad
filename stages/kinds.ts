import { ConfigError } from '../lib/core/errors.js';
import type { StageFactory } from '../lib/worker/stage.js';

/**
 * The built-in stage kinds, each imported only when a process runs it (`pipeline worker` loads the
 * kinds of its own stages: a preprocess worker never loads transformers.js, ONNX Runtime or a
 * database driver; the cold start of issue 17). `STAGES` (stages/index.ts) has them all, eagerly.
 */
export const STAGE_LOADERS: Readonly<Record<string, () => Promise<StageFactory>>> = {
  preprocess: async () => (await import('./preprocess.js')).createPreprocess,
  classify: async () => (await import('./classify.js')).createClassify,
  extract: async () => (await import('./extract.js')).createExtract,
  validate: async () => (await import('./validate.js')).createValidate,
  match: async () => (await import('./match.js')).createMatch,
  store: async () => (await import('./store.js')).createStore,
};

/** The built-in kind names (config validation: an unknown kind is an error). */
export const STAGE_KINDS: readonly string[] = Object.keys(STAGE_LOADERS);

/** The factories of these built-in kinds (others, e.g. `module:` kinds, are left out), imported in parallel. */
export async function loadStageKinds(kinds: readonly string[]): Promise<Record<string, StageFactory>> {
  const wanted = [...new Set(kinds)].filter((k) => k in STAGE_LOADERS);
  return Object.fromEntries(await Promise.all(wanted.map(async (k) => [k, await STAGE_LOADERS[k]!()] as const)));
}

const MODEL_SETTINGS = ['modelsDir', 'allowRemoteModels'];
const POSTGRES_SETTINGS = [
  'postgresUrl',
  'postgresSchema',
  'postgresPoolSize',
  'postgresConnectTimeoutMs',
  'postgresStatementTimeoutMs',
  'postgresIdleTimeoutMs',
];

/** The `settings` keys each built-in kind reads (every kind reads `acl`: stages/access.ts). */
export const STAGE_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  preprocess: [],
  classify: ['groups', ...MODEL_SETTINGS],
  extract: ['brandLexicon', 'brandMinCount', 'mpnShapeRule', 'mpnTidy', ...MODEL_SETTINGS],
  validate: ['schemas'],
  match: ['threshold', 'index', ...MODEL_SETTINGS],
  store: ['sink', ...POSTGRES_SETTINGS],
};

/**
 * Refuses a `settings` key the stage's kind does not read (`where` names the stage: `stages[2]`).
 * A misspelt setting (`"treshold"`) had been ignored, the stage running on its default. A store
 * with a `module:` sink and `module:` kinds take any settings: their code reads them.
 */
export function checkStageSettings(where: string, kind: string, settings: Readonly<Record<string, unknown>>): void {
  const known = STAGE_SETTINGS[kind];
  if (!known || (kind === 'store' && String(settings.sink ?? '').startsWith('module:'))) return;
  const allowed = ['acl', ...known];
  for (const k of Object.keys(settings))
    if (!allowed.includes(k)) throw new ConfigError(`${where}.settings.${k}`, `unknown setting for a ${kind} stage (known: ${allowed.join(', ')})`);
}
