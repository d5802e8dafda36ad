import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, RouteError } from '../../lib/core/errors.js';
import { compileRoutes, compileRules, getPath } from '../../lib/stream/router.js';

const streams = new Set(['extract.electronics', 'extract.computing', 'review', 'validate', 'store']);
const classify = compileRules(
  'classify',
  [
    { when: { confidence: { lt: 0.5 } }, to: 'review' },
    { when: { category: { in: ['audio', 'tv_video'] } }, to: 'extract.electronics' },
    { when: { category: 'computers', confidence: { gte: 0.9 } }, to: ['extract.computing', 'review'] },
    { to: 'extract.computing' },
  ],
  streams,
);

test('first matching rule wins, confidence gate before category', () => {
  assert.equal(classify.route({ category: 'audio', confidence: 0.4 }), { targets: ['review'], rule: '0' });
  assert.equal(classify.route({ category: 'audio', confidence: 0.8 }), { targets: ['extract.electronics'], rule: '1' });
});

test('fan-out to several streams; default last', () => {
  assert.equal(classify.route({ category: 'computers', confidence: 0.95 }).targets, ['extract.computing', 'review']);
  assert.equal(classify.route({ category: 'computers', confidence: 0.7 }), { targets: ['extract.computing'], rule: 'default' });
  assert.equal([...classify.targets].sort(), ['extract.computing', 'extract.electronics', 'review']);
});

test('missing or non-numeric fields never pass a threshold', () => {
  assert.is(classify.route({ category: 'audio' }).rule, '1');
  assert.is(classify.route({ category: 'audio', confidence: 'high' }).rule, '1');
});

test('exists, any, ne, nin and dotted paths', () => {
  const r = compileRules(
    'extract',
    [
      { when: { any: [{ mpn: { exists: true } }, { 'ids.gtin': { exists: true } }] }, to: 'validate' },
      { when: { brand: { ne: null }, category: { nin: ['software'] } }, to: 'store' },
    ],
    streams,
  );
  assert.is(r.route({ mpn: 'X1' }).targets[0], 'validate');
  assert.is(r.route({ ids: { gtin: '4006381333931' } }).targets[0], 'validate');
  assert.is(r.route({ mpn: '', brand: 'HP', category: 'printers_ink' }).targets[0], 'store');
  assert.throws(
    () => r.route({ brand: 'HP', category: 'software' }),
    (e: Error) => e instanceof RouteError,
  );
  assert.is(getPath({ a: { b: 3 } }, 'a.b'), 3);
});

test('config errors name the rule and the reason', () => {
  const err = (fn: () => unknown, where: RegExp) => assert.throws(fn, (e: Error) => e instanceof ConfigError && where.test(e.message));
  err(() => compileRules('classify', [{ to: 'nowhere' }], streams), /routes\.classify\[0\]\.to: unknown target stream "nowhere"/);
  err(() => compileRules('classify', [{ to: 'review' }, { when: { a: 1 }, to: 'store' }], streams), /routes\.classify\[0\]: the default rule/);
  err(() => compileRules('x', [{ when: { confidence: { lt: 'low' } }, to: 'store' } as never], streams), /confidence\.lt: expected a number/);
  err(() => compileRules('x', [{ when: { c: { like: 'a' } }, to: 'store' } as never], streams), /c\.like: unknown operator/);
  err(() => compileRoutes({ ghost: [{ to: 'store' }] }, [{ name: 'store', input: 'store' }], []), /routes\.ghost: no stage named/);
});

test.run();
