import type { Envelope } from '../stream/codec.js';
import { percentile } from '../core/percentile.js';

/** One stage's visit as the console shows it: how long it waited in the stage's stream and how long its batch took. */
export interface HopTiming {
  stage: string;
  consumer: string;
  /** From the previous hop's hand-off (or the producer's write) to this stage's read. */
  waitMs: number;
  /** From this stage's read to its hand-off: the batch's time. */
  batchMs: number;
  /** Messages in the batch it ran in. */
  batch: number;
  readAt: number;
  doneAt: number;
}

/** The per-hop wait and batch times of one envelope, in the order it visited the stages. */
export function hopTimings(env: Pick<Envelope, 'producedAt' | 'hops'>): HopTiming[] {
  let prev = env.producedAt;
  return env.hops.map((h) => {
    const t: HopTiming = {
      stage: h.stage,
      consumer: h.consumer,
      waitMs: Math.max(0, h.readAt - prev),
      batchMs: Math.max(0, h.doneAt - h.readAt),
      batch: h.batch,
      readAt: h.readAt,
      doneAt: h.doneAt,
    };
    prev = h.doneAt;
    return t;
  });
}

/** Latency figures of one stage over a sample of recent hops. */
export interface StageLatency {
  /** Hops in the sample. */
  samples: number;
  /** Read to hand-off (the batch's time), p50 and p99 in ms. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Time waiting in the stage's input stream, p50 in ms. */
  waitP50Ms: number | null;
  /** Mean batch size. */
  batchMean: number | null;
}

/**
 * Per-stage latency from the hops of recent envelopes: each envelope counts each stage it
 * visited once. Hops older than `since` (ms since epoch, by hand-off time) are left out, so a
 * quiet stage shows no figures instead of stale ones.
 */
export function stageLatencies(envelopes: Iterable<Pick<Envelope, 'producedAt' | 'hops'>>, since = 0): Map<string, StageLatency> {
  const byStage = new Map<string, { batch: number[]; wait: number[]; size: number[] }>();
  const seen = new Set<string>();
  for (const env of envelopes) {
    for (const t of hopTimings(env)) {
      if (t.doneAt < since) continue;
      // The same hop is in every later stream the message reached: count it once.
      const id = `${t.stage}\u0000${t.consumer}\u0000${t.readAt}\u0000${t.doneAt}\u0000${(env as { traceId?: string }).traceId ?? ''}`;
      if (seen.has(id)) continue;
      seen.add(id);
      let s = byStage.get(t.stage);
      if (!s) byStage.set(t.stage, (s = { batch: [], wait: [], size: [] }));
      s.batch.push(t.batchMs);
      s.wait.push(t.waitMs);
      s.size.push(t.batch);
    }
  }
  const out = new Map<string, StageLatency>();
  for (const [stage, s] of byStage) {
    out.set(stage, {
      samples: s.batch.length,
      p50Ms: percentile(s.batch, 50),
      p99Ms: percentile(s.batch, 99),
      waitP50Ms: percentile(s.wait, 50),
      batchMean: s.size.length ? Math.round((s.size.reduce((a, b) => a + b, 0) / s.size.length) * 10) / 10 : null,
    });
  }
  return out;
}
