import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../lib/redis/keys.js';
import { cli, exited, writeConfig } from './helpers/pipeline.js';
import { client, randomPipeline, startRedis } from './helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);

test('bad lines are reported with line number and reason, kept in the rejects file, and the rest produced; exit 1', async () => {
  const pipeline = randomPipeline();
  const config = writeConfig(pipeline, undefined, { limits: { maxRecordBytes: 200 } });
  const rejects = join(tmpdir(), `${pipeline}-rejects.jsonl`);
  const input = Buffer.concat([
    Buffer.from('{"id":"a1","title":"good one"}\n'),
    Buffer.from('{"id":"a2","title": broken\n'),
    Buffer.from('{"id":"a3"}\n'),
    Buffer.from('{"id":"a4","title":"x","brand":7}\n'),
    Buffer.from(`{"id":"a5","title":"${'y'.repeat(300)}"}\n`),
    Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]), // invalid UTF-8
    Buffer.from('\n[1,2]\n'),
    Buffer.from('{"id":42,"title":"numeric id is accepted as a string"}'),
  ]);
  const p = cli(['--config', config, 'produce', '--rejects', rejects], server.url, { input });
  const code = await exited(p);
  const out = p.output();
  assert.is(code, 1, out);
  const kept = readFileSync(rejects, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string; error: string });
  rmSync(rejects);
  assert.equal(kept.map((r) => [r.line, r.reason]), [
    [2, 'invalid_json'],
    [3, 'invalid_record'],
    [4, 'invalid_record'],
    [5, 'oversized'],
    [6, 'invalid_utf8'],
    [8, 'invalid_record'],
  ]);
  assert.match(kept[1]!.error, /field "title": expected a non-empty string/);
  assert.match(kept[2]!.error, /field "brand": expected a string, got number/);
  assert.match(out, /stdin:5: rejected \(oversized\)/);
  assert.is(await redis.xlen(new Keys(pipeline).stream('in')), 2);
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});
test.run();
