import type { StageFactory } from '../lib/worker/stage.js';
import { createClassify } from './classify.js';
import { createExtract } from './extract.js';
import { createMatch } from './match.js';
import { createPreprocess } from './preprocess.js';
import { createStore } from './store.js';
import { createValidate } from './validate.js';

/** Stage kinds by name, as `kind` in config/pipeline.json names them (all imported; `stages/kinds.ts` imports one kind when it is used). */
export const STAGES: Record<string, StageFactory> = {
  preprocess: createPreprocess,
  classify: createClassify,
  extract: createExtract,
  validate: createValidate,
  match: createMatch,
  store: createStore,
};
