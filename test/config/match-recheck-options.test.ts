import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../lib/core/errors.js';
import { parseRecheckOptions, RECHECK_DEFAULTS } from '../../stages/domain/match-recheck.js';

const where = 'stages.match.settings.recheck';

test('settings.recheck: the documented defaults, each overridable, bad values and unknown keys refused by name', () => {
  assert.equal(parseRecheckOptions(where, undefined), { maxPending: 10_000, chunk: 100, settleMs: 2_000, retryMs: 1_000, markerTtlMs: 86_400_000 });
  assert.equal(parseRecheckOptions(where, { settleMs: 300 }), { ...RECHECK_DEFAULTS, settleMs: 300 });
  for (const [raw, named] of [
    [{ maxPending: 0 }, `${where}.maxPending`],
    [{ chunk: '100' }, `${where}.chunk`],
    [{ settleMs: 1.5 }, `${where}.settleMs`],
    [{ retry: 10 }, `${where}.retry`],
    [[], where],
  ] as const) {
    const err = (() => {
      try {
        parseRecheckOptions(where, raw);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ConfigError, JSON.stringify(raw));
    assert.match(String((err as Error).message), named);
  }
});

test.run();
