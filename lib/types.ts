/**
 * The types a stage, a sink or an embedding program is written against, without runtime code
 * (`import type { Stage } from 'streamline-enrich/types'`). The Sink types are in `streamline-enrich/sink`.
 */
export type { Stage, StageContext, StageFactory, StageResult } from './worker/stage.js';
export type { Envelope, Hop, Message, ProductRecord } from './stream/codec.js';
export type { PipelineConfig, ResolvedConfig, ResolvedStage, RouteRule, StageConfig, StageOptions } from './config/types.js';
export type { RateLimit } from './config/rate-limit.js';
export type { Router, RouteDecision } from './stream/router.js';
export type { Logger } from './observe/logger.js';
export type { Metrics } from './observe/metrics.js';
