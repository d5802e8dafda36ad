/** What each trainer hands to the builder: a graph, its HF config and dev metrics. */
import type { ModelConfig } from './hf-layout.js';
import type { OnnxGraph } from './onnx-writer.js';

export interface TrainedModel {
  graph: OnnxGraph;
  config: ModelConfig;
  metrics: Record<string, number>;
}
