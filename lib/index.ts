/**
 * streamline-enrich as a library (`import { Worker, produce } from 'streamline-enrich'`): run a
 * stage worker in your own process, produce records, route, and write your own stages against the
 * types here. Sinks: `streamline-enrich/sink`; the built-in stage kinds: `streamline-enrich/stages`.
 * docs/extending.md shows each use.
 */
export { Worker, type WorkerOptions } from './worker/worker.js';
export { ok, fail, type Stage, type StageContext, type StageFactory, type StageResult } from './worker/stage.js';
export { loadModuleStages, MODULE_PREFIX } from './worker/modules.js';
export { onShutdownSignal } from './worker/shutdown.js';
export { produce, type ProduceOptions, type ProduceSummary, type Reject } from './producer/producer.js';
export { compileRoutes, compileRules, type Router, type RouteDecision } from './stream/router.js';
export type { Envelope, Hop, Message, ProductRecord } from './stream/codec.js';
export { loadConfigFile, resolveConfig, type LoadOptions } from './config/load.js';
export type { PipelineConfig, ResolvedConfig, ResolvedStage, RouteRule, StageConfig, StageOptions } from './config/types.js';
export type { RateLimit } from './config/rate-limit.js';
export { BadRecordError, ConfigError, PipelineError, StageError, TransientError } from './core/errors.js';
export { classify, isPermanent, isTransient } from './core/failure-policy.js';
export { createLogger, silentLogger, type Logger } from './observe/logger.js';
export { createMetrics, noopMetrics, type Metrics } from './observe/metrics.js';
export { Keys } from './redis/keys.js';
export { createClient } from './redis/url.js';
