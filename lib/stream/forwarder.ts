import { decodeEnvelope, encodeEnvelope, entryFields, FIELD_ENVELOPE, FIELD_KEY, type Message } from './codec.js';
import type { ResolvedStage } from '../config/types.js';
import { deadLetterForward, type DeadLetter } from './deadletter.js';
import type { RawEntry } from './entries.js';
import { ConfigError, DecodeError, RouteError } from '../core/errors.js';
import { parseGroups, type GroupTable } from './category-groups.js';
import { asReviewed, REVIEW_STAGE, reviewDecisionOf } from './review-decision.js';
import type { Forward } from './handoff.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { Keys } from '../redis/keys.js';
import type { Router } from './router.js';
import type { RevokeMarker } from './revokes.js';

export interface ForwarderDeps {
  stage: ResolvedStage;
  /** Undefined for sinks: their messages are only acked. */
  router?: Router;
  keys: Keys;
  consumer: string;
  logger: Logger;
  metrics: Metrics;
  /** This stage reads the pipeline's input stream: it stamps each envelope's `origin`. @defaultValue false */
  readsInput?: boolean;
}

/** A stage this process can run right after the forwarding one (lib/worker/fusion.ts). */
export interface FusedStage {
  /**
   * Run the stage on messages routed to it alone, in the caller's batch. Per message: its
   * hand-off (possibly fused further), or undefined when it failed here: the caller then writes
   * it to the stage's stream, where the stage's own consumer retries or dead-letters it.
   */
  runFused(messages: Message[]): Promise<(Forward | undefined)[]>;
}

/** A forward to a fused stage: not encoded; the batch's fusion pass runs `into` on `message`. */
export interface FusedForward extends Forward {
  fused: { into: FusedStage; message: Message };
}

export const isFused = (f: Forward): f is FusedForward => (f as Partial<FusedForward>).fused !== undefined;

/** The hand-off a fused forward falls back to: the envelope written to the stage's stream. */
export function unfused(f: FusedForward): Forward {
  const env = f.fused.message.envelope;
  return { id: f.id, targets: f.targets, stage: f.stage, fields: [FIELD_KEY, env.key, FIELD_ENVELOPE, encodeEnvelope(env)] };
}

/**
 * One stage's side of the envelope contract: decodes entries into messages, and turns each
 * outcome into the hand-off record the batch commit executes (forward by route, ack only, or
 * dead letter).
 */
export class Forwarder {
  private readonly tags: { stage: string };
  /**
   * Stream keys and metric label of each rule's target list, computed once: the router returns
   * the same array for every match of a rule, so this is a lookup per message, not string work.
   */
  private readonly targetKeys = new WeakMap<readonly string[], { keys: string[]; route: string }>();
  /** Stream key → the local stage that may run fused on what this stage routes there alone (set by the process). */
  private fusable?: (key: string) => FusedStage | undefined;
  /** Each rule's target list without the review stream, for a product a reviewer decided (computed once per rule). */
  private readonly notToReview = new WeakMap<readonly string[], string[]>();
  /** The stage's `settings.groups` (the category → group table a reviewed category is routed by), parsed on first use. */
  private groups?: GroupTable;

  constructor(private readonly d: ForwarderDeps) {
    this.tags = { stage: d.stage.name };
  }

  /** A stream entry as a message; DecodeError when it has no envelope or a key that does not match it. */
  decode(entry: RawEntry): Message {
    const { key, payload } = entryFields(entry.fields);
    if (!payload) throw new DecodeError(`entry ${entry.id} has no '${FIELD_ENVELOPE}' field`);
    const envelope = decodeEnvelope(payload);
    if (key !== undefined && key !== envelope.key) throw new DecodeError(`entry key ${key} does not match envelope key ${envelope.key}`);
    if (this.d.readsInput && envelope.origin === undefined) envelope.origin = entry.id;
    // An operator's rebuild is a new act, ordered by when it re-entered; the match stage's re-check re-sends the version it had (its origin rules).
    if ((envelope.rebuilt === 'reprocess' || envelope.rebuilt === 'review') && envelope.rebuiltAt === undefined) envelope.rebuiltAt = entry.id;
    return { id: entry.id, stream: this.d.stage.input, envelope };
  }

  /** Let the process's stages run fused after this one (lib/worker/fusion.ts). */
  fuseInto(lookup: (key: string) => FusedStage | undefined): void {
    this.fusable = lookup;
  }

  /**
   * Pick the targets (RouteError when no rule matches, the envelope untouched), add this stage's
   * output and hop to the envelope, tally the route in `routed`. A single target that a local
   * stage reads fused gives a FusedForward, not yet encoded.
   */
  forward(msg: Message, output: Record<string, unknown>, readAt: number, doneAt: number, batch: number, routed: Map<string, number>): Forward {
    const { stage, router, keys, metrics } = this.d;
    const env = msg.envelope;
    const targets = router ? this.route(router, env.outputs, output) : undefined;
    env.outputs[stage.name] = output;
    env.hops.push({ stage: stage.name, consumer: this.d.consumer, readAt, doneAt, batch });
    if (!targets) {
      metrics.timing('message.e2e_ms', doneAt - env.producedAt, this.tags);
      return { id: msg.id, targets: [], fields: [], stage: stage.name };
    }
    let t = this.targetKeys.get(targets);
    if (!t) this.targetKeys.set(targets, (t = { keys: targets.map((x) => keys.stream(x)), route: targets.join('+') }));
    routed.set(t.route, (routed.get(t.route) ?? 0) + 1);
    const into = t.keys.length === 1 ? this.fusable?.(t.keys[0]!) : undefined;
    if (into) {
      const f: FusedForward = { id: msg.id, targets: t.keys, fields: [], stage: stage.name, fused: { into, message: msg } };
      return f;
    }
    return { id: msg.id, targets: t.keys, fields: [FIELD_KEY, env.key, FIELD_ENVELOPE, encodeEnvelope(env)], stage: stage.name };
  }

  /**
   * The targets of `output`. A product a reviewer decided (its envelope carries the `review`
   * output) is routed as decided: an output that sets a category is routed as the reviewer's
   * category (confidence 1, its group), and the review stream is left out of the targets, so
   * the stages after a decision, and a reprocess of a decided product, never send it back to
   * review (they had: a confirmed item came back from validate, a reprocess queued every decided
   * product again). RouteError when nothing but review is left.
   */
  private route(router: Router, outputs: Readonly<Record<string, unknown>>, output: Record<string, unknown>): string[] {
    const decided = reviewDecisionOf(outputs);
    if (!decided) return router.route(output).targets;
    const view = typeof output.category === 'string' ? asReviewed(output, decided, output.category, this.groupTable()) : output;
    const targets = router.route(view).targets;
    if (!targets.includes(REVIEW_STAGE)) return targets;
    let rest = this.notToReview.get(targets);
    if (!rest) this.notToReview.set(targets, (rest = targets.filter((t) => t !== REVIEW_STAGE)));
    if (rest.length === 0)
      throw new RouteError(
        `stage ${this.d.stage.name}: a product ${decided.reviewedBy} reviewed as ${JSON.stringify(decided.category)} is routed to review only`,
      );
    return rest;
  }

  private groupTable(): GroupTable {
    if (this.groups) return this.groups;
    try {
      this.groups = parseGroups(`stages.${this.d.stage.name}.settings.groups`, this.d.stage.settings.groups);
    } catch (err) {
      // A module stage's own `groups` setting of another shape: no groups (a classify stage's was checked at load).
      if (!(err instanceof ConfigError)) throw err;
      this.groups = new Map();
    }
    return this.groups;
  }

  /**
   * Undo what `forward` added to the envelope (this stage's output and hop) when it threw after
   * adding them (the envelope could not be encoded), so the message can be written as it came.
   */
  retract(msg: Message): void {
    const env = msg.envelope;
    if (env.hops.at(-1)?.stage !== this.d.stage.name) return;
    env.hops.pop();
    delete env.outputs[this.d.stage.name];
  }

  /** A revoked message (`pipeline revoke`): acked without running or forwarding, its trip ending `revoked`; logged and counted. */
  revoke(msg: Message, m: RevokeMarker): Forward {
    const { key } = msg.envelope;
    this.d.metrics.increment('messages.revoked', 1, this.tags);
    const why = m.reason ? { reason: m.reason } : {};
    this.d.logger.info('message.revoked', { stage: this.d.stage.name, consumer: this.d.consumer, id: msg.id, key, by: m.by, ...why });
    return { id: msg.id, targets: [], fields: [], stage: this.d.stage.name, revoked: { key, by: m.by, ...why } };
  }

  /** The entry to the dead-letter stream with why; logged and counted by reason. */
  deadLetter(entry: RawEntry, dl: DeadLetter): Forward {
    this.d.metrics.increment('messages.dead_lettered', 1, { ...this.tags, reason: dl.reason });
    this.d.logger.warn('message.dead_letter', { id: entry.id, reason: dl.reason, error: dl.error, deliveries: dl.deliveries });
    return deadLetterForward(entry, this.d.stage.name, this.d.stage.input, this.d.keys.dlq, dl);
  }
}
