/** Model inference through transformers.js: category, attribute extraction, title embeddings. */
export { loadClassifier, type Classifier, type Classification } from './classifier.js';
export { loadExtractor, type Extractor, type Entity } from './extractor.js';
export { loadEmbedder, type Embedder } from './embedder.js';
export { loadModel, ModelLoadError, DEFAULT_MODEL_PATH, type ModelLoadOptions, type ModelTask, type LoadedModel, type TokenRows } from './loader.js';
export { AlignmentError } from './align.js';
