/**
 * A title with nothing to classify is bad input, named where it comes in: zero-width, control or
 * format characters alone are rejected by the producer (and so by the API, which checks records
 * with the same validateRecord), and a title that is markup or entities alone, empty once
 * preprocess cleans it, fails preprocess as a bad record (dead-lettered, permanent). Both had gone
 * on to the classifier as empty text and been stored with a category picked from nothing.
 */
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRecordError } from '../../lib/core/errors.js';
import { classify } from '../../lib/core/failure-policy.js';
import { produce, type Reject } from '../../lib/producer/producer.js';
import { Keys } from '../../lib/redis/keys.js';
import { newEnvelope, type Message } from '../../lib/stream/codec.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { noopMetrics } from '../../lib/observe/metrics.js';
import { createPreprocess } from '../../stages/preprocess.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

test('a title of zero-width, control or format characters alone is rejected with its line and field; emoji and markup titles go in', async () => {
  const keys = new Keys(randomPipeline());
  const invisible = ['\u200b', '\u200b\u200c\ufeff', '\u00ad', '\u0001\u0002', ' \u200e\u2060 '];
  const visible = ['😀😀', '<b>x</b>', 'Kingston 8GB'];
  const lines = [...invisible, ...visible].map((title, i) => JSON.stringify({ id: `t${i}`, title }));
  const seen: Reject[] = [];
  const summary = await produce(redis, Readable.from([lines.join('\n') + '\n']), {
    stream: keys.stream('in'),
    source: 'titles.jsonl',
    maxRecordBytes: 1000,
    onReject: (r) => seen.push(r),
  });
  assert.equal(
    seen.map((r) => [r.line, r.reason]),
    invisible.map((_, i) => [i + 1, 'invalid_record']),
  );
  for (const r of seen) assert.match(r.error, /^field "title": no visible character \(only white space, control or zero-width characters\)$/);
  assert.equal([summary.produced, summary.rejected, summary.lines], [visible.length, invisible.length, lines.length]);
  assert.is(await redis.xlen(keys.stream('in')), visible.length);
});

test('a title that is markup or entities alone fails preprocess as a bad record (dead-lettered at once), naming the field', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const stage = createPreprocess({
    config,
    stage: config.stages.find((s) => s.name === 'preprocess')!,
    keys: new Keys(config.pipeline),
    redis: undefined as never,
    logger: silentLogger,
    metrics: noopMetrics,
  });
  const titles = ['<br>', '&nbsp;', '<b></b> &#8203;', 'Sony <b>WH-1000XM4</b>'];
  const msgs: Message[] = titles.map((title, i) => ({ id: `1-${i}`, stream: 'in', envelope: newEnvelope({ id: `m${i}`, title }) }));
  const out = await stage.process(msgs);
  for (const r of out.slice(0, 3)) {
    assert.not.ok(r.ok);
    if (r.ok) continue;
    assert.instance(r.error, BadRecordError);
    assert.match(r.error.message, /^field "title": nothing left once cleaned/);
    assert.is(classify(r.error).class, 'permanent');
  }
  const last = out[3]!;
  assert.ok(last.ok && last.output.title === 'Sony WH-1000XM4', 'a title with text besides its markup is cleaned and goes on');
});

test.run();
