import type { Redis } from 'ioredis';
import { BadRecordError, errorMessage } from '../core/errors.js';
import { classify } from '../core/failure-policy.js';
import { validateRecord } from '../producer/record.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { encodeEnvelope, newEnvelope, type ProductRecord } from '../stream/codec.js';

const submitScript = new Script('submit-N');

/** A record the API refused, with where (its index in the body: array position or NDJSON line - 1) and why. */
export interface Rejected {
  index: number;
  /** not_taken: Redis refused its part of the request (full); unknown: the connection failed on it (submitting it again is safe). */
  reason: 'invalid_json' | 'invalid_record' | 'not_taken' | 'unknown';
  error: string;
}

/** Records per script call: keeps one call's run on the server short (10,000 records in one call held Redis about 130 ms). */
const CHUNK = 500;

/**
 * A request body as records: a JSON object (one record), a JSON array, or NDJSON text (one
 * record per line, blank lines skipped). Each is checked by the producer's own validateRecord
 * (lib/producer/record.ts), so the API accepts exactly what `pipeline produce` accepts.
 */
export function parseRecords(body: unknown, maxRecordBytes: number): { records: ProductRecord[]; indexes: number[]; rejected: Rejected[] } {
  const records: ProductRecord[] = [];
  const indexes: number[] = [];
  const rejected: Rejected[] = [];
  const check = (value: unknown, index: number, size?: number) => {
    try {
      records.push(validateRecord(value, maxRecordBytes, size));
      indexes.push(index);
    } catch (err) {
      if (!(err instanceof BadRecordError)) throw err;
      rejected.push({ index, reason: 'invalid_record', error: err.message });
    }
  };
  if (typeof body === 'string') {
    const lines = body.split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        rejected.push({ index: i, reason: 'invalid_json', error: `line ${i + 1}: ${errorMessage(err)}` });
        return;
      }
      check(value, i, Buffer.byteLength(line));
    });
  } else if (Array.isArray(body)) body.forEach((v, i) => check(v, i));
  else check(body, 0);
  return { records, indexes, rejected };
}

/**
 * Add validated records to the input stream and mark each id queued (`{p}:status:<id>`, one SET), one
 * script call per 500 records (lib/lua/submit-N.lua), one after another. A call either writes all
 * of its records or none (Redis refuses a script at its first write when full). When the first call
 * fails, nothing was taken and the error is thrown (429 / 503); when a later one fails, the records
 * before it are in and the rest come back in `notTaken` (by their place in `records`), so the
 * answer can say which: never a refusal that took part of the request.
 */
export async function submitRecords(
  redis: Redis,
  keys: Keys,
  input: string,
  records: readonly ProductRecord[],
  statusTtlMs: number,
): Promise<{ taken: number; notTaken?: { from: number; reason: 'not_taken' | 'unknown'; error: string } }> {
  const now = Date.now();
  for (let i = 0; i < records.length; i += CHUNK) {
    const chunk = records.slice(i, i + CHUNK);
    const args: (string | Buffer | number)[] = [statusTtlMs, now];
    for (const r of chunk) args.push(r.id, encodeEnvelope(newEnvelope(r, now)));
    try {
      await submitScript.run<string[]>(redis, [keys.stream(input), ...chunk.map((r) => keys.status(r.id))], args);
    } catch (err) {
      if (i === 0) throw err;
      const full = classify(err).outage === 'redis_oom';
      return {
        taken: i,
        notTaken: {
          from: i,
          reason: full ? 'not_taken' : 'unknown',
          error: full
            ? `not taken: Redis is full (${errorMessage(err)}); submit it again later`
            : `outcome unknown: ${errorMessage(err)}; submitting it again is safe (a product id is stored once)`,
        },
      };
    }
  }
  return { taken: records.length };
}
