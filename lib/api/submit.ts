import type { Redis } from 'ioredis';
import { BadRecordError, errorMessage } from '../core/errors.js';
import { validateRecord } from '../producer/record.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { encodeEnvelope, newEnvelope, type ProductRecord } from '../stream/codec.js';

const submitScript = new Script('submit-N');

/** A record the API refused, with where (its index in the body: array position or NDJSON line - 1) and why. */
export interface Rejected {
  index: number;
  reason: 'invalid_json' | 'invalid_record';
  error: string;
}

/** Records per script call: keeps one call's run on the server short. */
const CHUNK = 500;

/**
 * A request body as records: a JSON object (one record), a JSON array, or NDJSON text (one
 * record per line, blank lines skipped). Each is checked by the producer's own validateRecord
 * (lib/producer/record.ts), so the API accepts exactly what `pipeline produce` accepts.
 */
export function parseRecords(body: unknown, maxRecordBytes: number): { records: ProductRecord[]; rejected: Rejected[] } {
  const records: ProductRecord[] = [];
  const rejected: Rejected[] = [];
  const check = (value: unknown, index: number, size?: number) => {
    try {
      records.push(validateRecord(value, maxRecordBytes, size));
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
  return { records, rejected };
}

/**
 * Add validated records to the input stream and mark each id queued (`{p}:status:<id>`, one SET), one
 * script call per 500 records (lib/lua/submit-N.lua). Returns the input entry ids, in order.
 */
export async function submitRecords(redis: Redis, keys: Keys, input: string, records: readonly ProductRecord[], statusTtlMs: number): Promise<string[]> {
  const stream = keys.stream(input);
  const calls: Promise<string[]>[] = [];
  const now = Date.now();
  for (let i = 0; i < records.length; i += CHUNK) {
    const chunk = records.slice(i, i + CHUNK);
    const args: (string | Buffer | number)[] = [statusTtlMs, now];
    for (const r of chunk) args.push(r.id, encodeEnvelope(newEnvelope(r, now)));
    calls.push(submitScript.run<string[]>(redis, [stream, ...chunk.map((r) => keys.status(r.id))], args));
  }
  return (await Promise.all(calls)).flat();
}
