/**
 * `npm start` with REDIS_URL set runs in that Redis's pipeline: a second run's summary had mixed
 * its own numbers with all-time totals (entries read, terminal streams, stored) and said nothing
 * about writing into a pipeline that already had data; fused stages read nothing from their own
 * stream and showed 0 unexplained. Now: this run's numbers, a warning, a fused footnote.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, exited, FAST } from '../helpers/pipeline.js';
import { randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const dir = mkdtempSync(join(tmpdir(), 'start-summary-'));

/** config/rules-only.json with its three stages in one process, so validate and store run fused. */
function fusedConfig(pipeline: string): string {
  const raw = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/rules-only.json'), 'utf8')) as { stages: object[] };
  const file = join(dir, `${pipeline}.json`);
  writeFileSync(file, JSON.stringify({ ...raw, pipeline, defaults: FAST, stages: raw.stages.map((s) => ({ ...s, process: 'all' })) }));
  return file;
}

/** `pipeline start` on `n` records with ids `<prefix><i>` (every other one with a model number), into REDIS_URL's pipeline. */
async function run(config: string, prefix: string, n: number): Promise<string> {
  const input = join(dir, `${prefix}.jsonl`);
  const line = (i: number) => JSON.stringify({ id: `${prefix}${i}`, title: `item ${prefix} ${i}`, ...(i % 2 ? { mpn: `M${i}` } : {}) });
  writeFileSync(input, Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n');
  const job = cli(['--config', config, 'start', '--input', input], server.url);
  assert.is(await exited(job), 0, job.output());
  return job.output();
}

const row = (out: string, name: string) => new RegExp(`\\n {2,4}${name.replace('.', '\\.')} +(\\d+)( \\*)?\\n`).exec(out);

test('a second start into the same pipeline: a warning, and a summary of this run alone, fused stages marked', async () => {
  const config = fusedConfig(randomPipeline());
  const first = await run(config, 'a', 10);
  assert.not.match(first, /warning: pipeline/, 'the first run wrote into an empty pipeline');
  assert.match(first, /\n {2}stored {5}10\n/);

  const second = await run(config, 'b', 20);
  assert.match(second, /warning: pipeline "\S+" in this Redis \(REDIS_URL\) already holds data \(10 stored products, 0 dead letters\)/);
  assert.match(second, /done in [\d.]+ s \(the numbers are this run's\)/);
  assert.is(row(second, 'preprocess')?.[1], '20', 'preprocess read 30 in all, 20 in this run');
  assert.is(row(second, 'validate')?.[2], ' *', 'validate runs fused after preprocess');
  assert.is(row(second, 'store')?.[2], ' *', 'store runs fused');
  assert.match(
    second,
    /\* fused: run in the batch of the stage before, so their group reads only the rest \(fan-outs, retries, replays\): validate after preprocess, store after/,
  );
  assert.match(second, /\n {2}stored {5}20 \(the pipeline holds 30: 10 from earlier runs\)\n/);
  const routes = [...second.matchAll(/\n {4}(preprocess→\S+) +(\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
  assert.is(routes, 20, 'the per-route counts are this run’s products');
});

test.after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
