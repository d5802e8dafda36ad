import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkSchema, parseSchemas } from '../../stages/domain/schema.js';
import { createValidate } from '../../stages/validate.js';
import type { StageContext } from '../../lib/worker/stage.js';

const table = parseSchemas('s', {
  storage: { expected: ['capacity'] },
  'storage/usb flash drives': { required: ['capacity'] },
});

test('schemas: a subcategory schema wins over its category; required are also expected', () => {
  assert.equal(checkSchema(table, 'storage', 'usb flash drives', {}), { missingRequired: ['capacity'], missingExpected: [] });
  assert.equal(checkSchema(table, 'storage', 'memory card readers', {}), { missingRequired: [], missingExpected: ['capacity'] });
  assert.equal(checkSchema(table, 'storage', 'usb flash drives', { capacity: { value: 16, unit: 'GB', text: '16GB' } }), {
    missingRequired: [],
    missingExpected: [],
  });
  // A span that lost its unit ("DiCAPac WPS10 … 230 x 270 x 190mm" gave "190") is kept as text only: not a value.
  assert.equal(checkSchema(table, 'storage', 'usb flash drives', { capacity: { text: '190' } }), { missingRequired: ['capacity'], missingExpected: [] });
  assert.equal(checkSchema(table, 'storage', 'memory card readers', { capacity: { text: '190' } }), { missingRequired: [], missingExpected: ['capacity'] });
  assert.is(checkSchema(table, 'audio', undefined, {}), null);
  assert.is(checkSchema(table, undefined, undefined, {}), null);
});

test('schemas: bad shapes are config errors', () => {
  assert.throws(() => parseSchemas('s', { storage: { required: 'capacity' } }), /array of attribute names/);
  assert.throws(() => parseSchemas('s', { storage: { needed: ['capacity'] } }), /unknown key/);
  assert.throws(() => parseSchemas('s', []), /category/);
});

test('validate flags a record missing a required attribute of its subcategory', async () => {
  const ctx = { stage: { name: 'validate', settings: { schemas: { 'storage/usb flash drives': { required: ['capacity'] } } } } } as unknown as StageContext;
  const stage = createValidate(ctx);
  const envelope = (attributes?: Record<string, unknown>) => ({
    envelope: {
      key: 'k',
      hops: [{ stage: 'classify' }, { stage: 'extract' }],
      outputs: { classify: { category: 'storage', subcategory: 'usb flash drives' }, extract: attributes ? { attributes } : {} },
    },
  });
  const [missing, complete] = await stage.process([envelope(), envelope({ capacity: { value: 16, unit: 'GB', text: '16GB' } })] as never);
  assert.equal((missing as { output: Record<string, unknown> }).output, { valid: true, attributesComplete: false, missingAttributes: ['capacity'] });
  assert.equal((complete as { output: Record<string, unknown> }).output, { valid: true, attributesComplete: true });
});

test.run();
