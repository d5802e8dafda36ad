/**
 * What a config check can know of a stage's model without loading it: the labels in its local
 * `config.json` (`id2label`). A hub model, or a folder without one, is not known here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedStage } from '../../lib/config/types.js';
import { DEFAULT_MODEL_PATH } from '../../lib/models/provenance.js';

/**
 * The folder a stage's model is read from: `settings.modelsDir` (made absolute against the config
 * file's folder when the config loaded: stages/kinds.ts STAGE_PATH_SETTINGS), else env MODELS_DIR,
 * else <repo>/models/.
 */
export function modelsDirOf(stage: Pick<ResolvedStage, 'settings'>, env: NodeJS.ProcessEnv = process.env): string {
  const dir = stage.settings.modelsDir;
  return typeof dir === 'string' ? dir : (env.MODELS_DIR ?? DEFAULT_MODEL_PATH);
}

/** The `id2label` values of the stage's local model, in index order; undefined when there is no such file or it has none. */
export function localModelLabels(stage: Pick<ResolvedStage, 'model' | 'settings'>, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (!stage.model) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(join(modelsDirOf(stage, env), stage.model, 'config.json'), 'utf8'));
  } catch {
    return undefined; // a hub model, or a folder the model check reports
  }
  const id2label = (config as { id2label?: unknown } | null)?.id2label;
  if (id2label === null || typeof id2label !== 'object') return undefined;
  const entries = Object.entries(id2label as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
  if (entries.length === 0) return undefined;
  return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map((e) => e[1]);
}

/** Categories and `<category>/<subcategory>` labels of a classifier's labels (`<category>/*`, the rest of a category, is no subcategory). */
export interface CategoryLabels {
  categories: ReadonlySet<string>;
  fine: ReadonlySet<string>;
}

export function categoryLabels(labels: readonly string[]): CategoryLabels {
  const categories = new Set<string>();
  const fine = new Set<string>();
  for (const l of labels) {
    const slash = l.indexOf('/');
    categories.add(slash < 0 ? l : l.slice(0, slash));
    if (slash >= 0 && l.slice(slash + 1) !== '*') fine.add(l);
  }
  return { categories, fine };
}

/** Whether `name` is a category or a `<category>/<subcategory>` of the labels. */
export const isCategoryLabel = (known: CategoryLabels, name: string): boolean => known.categories.has(name) || known.fine.has(name);

/** The attribute names a token tagger's labels produce (`B-CAPACITY` → `capacity`), identifiers left out. */
export function attributeNames(labels: readonly string[], identifiers: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const l of labels) {
    const m = /^[BI]-(.+)$/.exec(l);
    if (m && !identifiers.has(m[1]!)) out.add(m[1]!.toLowerCase());
  }
  return [...out];
}
