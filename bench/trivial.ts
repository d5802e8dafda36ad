import type { Envelope } from '../lib/stream/codec.js';

/** The bench's trivial stage work, the same on every side: record the title's length. */
export const trivialOutput = (env: Pick<Envelope, 'input'>): Record<string, unknown> => ({ len: env.input.title.length });

/** What the hand-written baselines do with it, as the runtime would: add the output and the hop. */
export function applyTrivial(env: Envelope, stage: string, consumer: string, readAt: number, batch: number): void {
  env.outputs[stage] = trivialOutput(env);
  env.hops.push({ stage, consumer, readAt, doneAt: Date.now(), batch });
}
