import type { StageFactory } from '../lib/stage.js';
import { createPreprocess } from './preprocess.js';
import { createStore } from './store.js';
import { createValidate } from './validate.js';

/** Stage kinds by name, as `kind` in config/pipeline.json names them. */
export const STAGES: Record<string, StageFactory> = {
  preprocess: createPreprocess,
  validate: createValidate,
  store: createStore,
};
