import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apiLines } from '../../bench/api.js';
import { parseOptions } from '../../bench/options.js';

test('--parts api is accepted (and not in the default parts); the summary lines are api ingest: N.NNx and api enrich p99: N ms', () => {
  assert.ok(parseOptions(['--parts', 'api']).parts.has('api'));
  assert.not.ok(parseOptions([]).parts.has('api'));
  assert.throws(() => parseOptions(['--parts', 'apii']), /unknown "apii"/);
  const ingest = { apiPerSec: 900, producerPerSec: 1000, ratio: 0.9, records: 1000 };
  assert.equal(
    apiLines({ ingest, enrich: { capacityPerSec: 100, rate: 50, p50Ms: 40, p99Ms: 87.6, maxMs: 120, requests: 250, completed: 250, timedOut: 0, errors: 0 } }),
    ['api ingest: 0.90x', 'api enrich p99: 88 ms'],
  );
  assert.equal(apiLines({ ingest, note: 'models not built' }), ['api ingest: 0.90x', 'api enrich p99: not measured (models not built)']);
});

test.run();
