/**
 * The input of `npm run chaos` (scripts/scenarios/chaos.ts): a seeded PRNG, and the JSONL it produces, good
 * records (some with an mpn or a UPC in the description) with one bad line every `badEvery` lines.
 */
import { sleep } from '../../lib/core/backoff.js';

/** Seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BAD_LINES = ['{"id":"x","title":', '{"title":"no id"}', '{"id":"y","title":7}', 'not json at all', '[]', `{"id":1e400,"title":"t"}`];

export interface ChaosInputOptions {
  /** Lines in all, good and bad. */
  total: number;
  /** Line i is bad when (i + 1) % badEvery === 0; 0: no bad lines. */
  badEvery: number;
  rand: () => number;
  /** At most this many lines/s (0: as fast as possible). */
  rate: number;
  /** Called before line i is made (the run's faults: restarts, garbage); awaited when it returns a promise. */
  before?: (i: number) => Promise<unknown> | undefined;
}

/** The JSONL in chunks of about 16 KB; `badLines` counts the bad lines made so far. */
export class ChaosInput {
  badLines = 0;
  constructor(private readonly o: ChaosInputOptions) {}

  async *chunks(): AsyncGenerator<string> {
    const { total, badEvery, rand, rate, before } = this.o;
    let chunk = '';
    let good = 0;
    const start = Date.now();
    for (let i = 0; i < total; i++) {
      const wait = before?.(i);
      if (wait) await wait;
      if (badEvery > 0 && (i + 1) % badEvery === 0) {
        chunk += BAD_LINES[this.badLines++ % BAD_LINES.length] + '\n';
      } else {
        const id = `c${good++}`;
        const r = rand();
        const rec = {
          id,
          title: `Product ${id} ${r.toString(36).slice(2, 8)}`,
          ...(r < 0.3 ? { mpn: `MX-${good}` } : r < 0.45 ? { description: 'UPC 036000291452' } : {}),
        };
        chunk += JSON.stringify(rec) + '\n';
      }
      if (chunk.length > 16_384) {
        yield chunk;
        chunk = '';
        if (rate > 0) await sleep(Math.max(0, start + (i / rate) * 1000 - Date.now()));
      }
    }
    yield chunk;
  }
}
