/**
 * `pipeline reprocess`, the pure part: which stored products go back, where they re-enter, and the
 * envelope they re-enter with (lib/ops/reprocess.ts puts them on the streams).
 */
import type { ResolvedConfig } from '../config/types.js';
import { modelNameOf } from '../models/provenance.js';
import { newTraceId, type Envelope, type Hop, type ProductRecord } from '../stream/codec.js';
import { REVIEW_STAGE, reviewDecisionOf } from '../stream/review-decision.js';
import { formatStreamId, parseStreamId } from '../stream/stream-id.js';

/** A stored product as either sink reads it back (`pipeline export`'s line, stages/sinks/export.ts, has this shape). */
export interface StoredProductRef {
  key: string;
  category: string;
  /** The store-stream entry that wrote the stored version: what the in-flight marker names. */
  entryId: string;
  traceId: string;
  /** ISO-8601. */
  storedAt: string;
  /** The stored version (its origin, "ms-seq"), when the sink kept one. */
  version?: string | null;
  /** input, outputs (per stage), route, models (per stage), producedAt, hops. */
  doc: Record<string, unknown>;
  /** Why the stored product could not be read (its doc does not parse, ...), when the sink says so. */
  unreadable?: string;
}

export interface PlanOptions {
  /** Every model stage's current version (`<name>@sha256:<16 hex>`), by stage name. */
  current: Readonly<Record<string, string>>;
  /** Re-enter at this stage. @defaultValue the first stage on the product's route whose model changed */
  fromStage?: string;
  /** Only products a stage of whose route stored this model, or runs it now, with a version other than the stage's current one. */
  model?: string;
}

/**
 * Why a product is not put back: `otherModel` (`--model M`: no stage of its route stored M or runs it now),
 * `upToDate` (every model it names is at its current version, M's too), `notOnRoute`
 * (`--from-stage`), `unreadable` (a stored doc without input, outputs or hops).
 */
export type SkipReason = 'otherModel' | 'upToDate' | 'notOnRoute' | 'unreadable';
export type Plan = { stage: string } | { skip: SkipReason };

/** The hops of a stored doc (only well-formed ones), or undefined when it has none. */
function hopsOf(doc: Record<string, unknown>): Hop[] | undefined {
  const hops = doc.hops;
  if (!Array.isArray(hops)) return undefined;
  return hops.filter((h): h is Hop => !!h && typeof h === 'object' && typeof (h as Hop).stage === 'string');
}

/** The stored model version per stage (`doc.models`, written by the store stage). */
function storedModels(doc: Record<string, unknown>): Record<string, string> {
  const m = doc.models;
  const out: Record<string, string> = {};
  if (m && typeof m === 'object') for (const [stage, v] of Object.entries(m as Record<string, unknown>)) if (typeof v === 'string') out[stage] = v;
  return out;
}

/** What a stored doc lacks to be rebuilt into an envelope (its input's title, its outputs, its hops), in words; undefined when it lacks nothing. */
export function unreadableWhy(doc: Record<string, unknown>): string | undefined {
  const input = doc.input as Partial<ProductRecord> | undefined;
  const missing = [
    !input || typeof input !== 'object' || typeof input.title !== 'string' ? 'input.title' : '',
    !doc.outputs || typeof doc.outputs !== 'object' ? 'outputs' : '',
    hopsOf(doc) === undefined ? 'hops' : '',
  ].filter(Boolean);
  return missing.length > 0 ? `its stored doc has no ${missing.join(', no ')}` : undefined;
}

/**
 * Where a stored product re-enters, or why it does not:
 * - `--model M`: selected when a stage it went through stored a version of M, or runs M now, and
 *   that stage's stored version is not its current one; `upToDate` when every such stage has its
 *   current version (a product reprocessed already), `otherModel` when there is none;
 * - `--from-stage S`: re-enters at S, if its route went through S (`notOnRoute` otherwise);
 * - else at the first stage of its route whose model version is not the current one (a stage that
 *   has a model now but stored none counts as changed); `upToDate` when there is none.
 */
export function planReprocess(doc: Record<string, unknown>, o: PlanOptions): Plan {
  const hops = hopsOf(doc);
  if (!hops || unreadableWhy(doc) !== undefined) return { skip: 'unreadable' };
  // The stored route ends with the store stage, which has no hop in the stored doc.
  const storedRoute = Array.isArray(doc.route) ? doc.route.filter((s): s is string => typeof s === 'string') : [];
  const route = [...new Set([...hops.map((h) => h.stage), ...storedRoute])];
  const stored = storedModels(doc);
  if (o.model !== undefined) {
    // A stage that stored M, or that runs M now (a stage pointed at a new model folder: nothing stored names M yet).
    const isM = (v: string | undefined) => v !== undefined && modelNameOf(v) === o.model;
    const byModel = route.filter((s) => isM(stored[s]) || isM(o.current[s]));
    if (byModel.length === 0) return { skip: 'otherModel' };
    // Stored by M, all at the current version: up to date (it had read as "stored by another model").
    if (byModel.every((s) => stored[s] === o.current[s])) return { skip: 'upToDate' };
  }
  if (o.fromStage !== undefined) return route.includes(o.fromStage) ? { stage: o.fromStage } : { skip: 'notOnRoute' };
  const changed = route.find((s) => o.current[s] !== undefined && stored[s] !== o.current[s]);
  return changed !== undefined ? { stage: changed } : { skip: 'upToDate' };
}

/**
 * The origin a reprocessed version carries: the stored version's, one sequence number on
 * (`1700000000000-4` → `1700000000000-5`). The store's newest-wins (by origin) then puts it after
 * the version it was built from, and before any record of the key produced after that version,
 * which got a higher input-stream id (the one tie: the key produced again in the same millisecond
 * with the very next id, where the later delivery is written, as for any re-delivery of one
 * version). Undefined when the stored version is unknown (stored without one: always written).
 */
export function originAfter(version: string | null | undefined): string | undefined {
  const id = version ? parseStreamId(version) : undefined;
  return id ? formatStreamId({ ms: id.ms, seq: id.seq + 1n }) : undefined;
}

/**
 * The envelope a stored product re-enters `stage` with: its input, the outputs and hops of the
 * stages it went through before `stage` (so those are not run again), a reviewer's decision
 * wherever it came on the route (the `review` output and hop: not a model's output, it stands
 * over the refreshed ones and keeps the product out of review; it had been dropped with the
 * outputs after `stage`), its trace id, the origin of `originAfter`, `producedAt` now (the
 * latency metrics measure the reprocessing, not the product's age), and `rebuilt: 'reprocess'`
 * (the store does not count it in `copies`).
 */
export function rebuildEnvelope(p: StoredProductRef, stage: string, now: number): Envelope {
  const hops = hopsOf(p.doc) ?? [];
  const at = hops.findIndex((h) => h.stage === stage);
  const stored = p.doc.outputs as Record<string, unknown>;
  const decided = reviewDecisionOf(stored) !== undefined;
  const before = at < 0 ? hops : [...hops.slice(0, at), ...(decided ? hops.slice(at).filter((h) => h.stage === REVIEW_STAGE) : [])];
  const outputs: Record<string, unknown> = {};
  for (const h of before) if (h.stage in stored) outputs[h.stage] = stored[h.stage];
  if (decided) outputs[REVIEW_STAGE] = stored[REVIEW_STAGE];
  const origin = originAfter(p.version);
  return {
    v: 1,
    key: p.key,
    traceId: p.traceId || newTraceId(),
    producedAt: now,
    input: p.doc.input as ProductRecord,
    outputs,
    hops: before,
    rebuilt: 'reprocess',
    ...(origin !== undefined ? { origin } : {}),
  };
}

/** `--from-stage`: a stage of the config (ConfigError-like message otherwise). */
export function checkFromStage(config: ResolvedConfig, stage: string | undefined): void {
  if (stage !== undefined && !config.stages.some((s) => s.name === stage))
    throw new Error(`--from-stage: no stage ${JSON.stringify(stage)} in pipeline ${config.pipeline} (stages: ${config.stages.map((s) => s.name).join(', ')})`);
}
