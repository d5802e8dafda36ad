import { ConfigError } from '../lib/core/errors.js';
import type { StageFactory } from '../lib/worker/stage.js';
import { POSTGRES_SETTINGS } from './sinks/postgres-settings.js';
import { checkStageSettingValues } from './settings-checks.js';

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

/** The `settings` keys each built-in kind reads (every kind reads `acl`: stages/access.ts). */
export const STAGE_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  preprocess: [],
  classify: ['groups', 'ungrouped', 'categoryWeights', ...MODEL_SETTINGS],
  extract: ['brandLexicon', 'brandMinCount', 'mpnShapeRule', 'mpnTidy', ...MODEL_SETTINGS],
  validate: ['schemas'],
  match: ['threshold', 'index', 'shardWaitMs', 'recheck', ...MODEL_SETTINGS],
  store: ['sink', 'appliedEntriesKept', ...POSTGRES_SETTINGS],
};

/**
 * The `settings` of each built-in kind that name a file or folder (dotted paths): a relative one is
 * resolved against the config file's folder when the config loads, not against the current
 * directory (docs/configuration.md#paths).
 */
export const STAGE_PATH_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  classify: ['modelsDir'],
  extract: ['modelsDir'],
  match: ['modelsDir', 'index.dir'],
};

/**
 * The path-valued settings of a kind. A `module:` kind's `modelsDir` is one (the model check at
 * start and `pipeline reprocess`'s versions read it for any stage with a model); its other settings
 * are passed as written.
 */
export const stagePathSettings = (kind: string): readonly string[] => STAGE_PATH_SETTINGS[kind] ?? (kind.startsWith('module:') ? ['modelsDir'] : []);

const MODEL_OUTPUTS = ['model', 'modelVersion'];

/**
 * The top-level fields each built-in kind outputs (routing rules may test only these; a rule on
 * another field never matches). test/config/stage-kinds.test.ts checks them against the stages' own
 * output functions.
 */
export const STAGE_OUTPUTS: Readonly<Record<string, readonly string[]>> = {
  preprocess: ['title', 'text', 'mpn', 'gtin', 'brand'],
  classify: ['category', 'confidence', 'top', 'subcategory', 'subcategoryConfidence', 'subcategories', 'group', ...MODEL_OUTPUTS],
  extract: ['brand', 'brandSource', 'mpn', 'mpnSource', 'gtin', 'gtinSource', 'attributes', 'entities', ...MODEL_OUTPUTS],
  validate: [
    'valid',
    'mpn',
    'mpnNormalized',
    'mpnPlausible',
    'gtin',
    'gtinValid',
    'gtinType',
    'gtinError',
    'attributesComplete',
    'missingAttributes',
    'missingExpected',
  ],
  match: ['matchScore', 'candidates', 'lookupMs', 'duplicateOf', ...MODEL_OUTPUTS],
  store: ['stored', 'sink'],
};

/** The output fields of a built-in kind; undefined for `module:` kinds (they may output anything). */
export const stageOutputs = (kind: string): readonly string[] | undefined => STAGE_OUTPUTS[kind];

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

/** What the config loader checks against the built-in kinds (LoadOptions of lib/config/load.ts): the CLI passes these. */
export const KIND_CHECKS = {
  knownKinds: STAGE_KINDS,
  checkSettings: checkStageSettings,
  stageOutputs,
  checkStages: checkStageSettingValues,
  pathSettings: stagePathSettings,
} as const;
