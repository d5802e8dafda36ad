/**
 * The pipeline diagram of README.md and docs/architecture.md against config/pipeline.json's
 * routes: it had drawn a "no MPN/GTIN" path from extract straight to store that no rule has,
 * review as an alternative to extract, and no review fan-out from validate.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '../..');

interface Rule {
  when?: Record<string, unknown>;
  to: string | string[];
}
const config = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as { routes: Record<string, Rule[]> };
const rules = Object.entries(config.routes).flatMap(([from, rs]) => rs.map((r) => ({ from, targets: typeof r.to === 'string' ? [r.to] : r.to, when: r.when })));

/** The fenced block that starts with `producer ──XADD` in a page. */
function diagram(page: string): string {
  const m = /```\n(producer ──XADD[\s\S]*?)```/.exec(readFileSync(join(REPO, page), 'utf8'));
  assert.ok(m, `${page} has the pipeline diagram`);
  return m![1]!;
}
const drawn = diagram('README.md');

/** The field names a `when` condition tests (`any`/`all`/`not` opened). */
function fieldsOf(when: Record<string, unknown> | undefined): string[] {
  if (!when) return [];
  return Object.entries(when).flatMap(([k, v]) =>
    ['any', 'all'].includes(k) ? (v as Record<string, unknown>[]).flatMap(fieldsOf) : k === 'not' ? fieldsOf(v as Record<string, unknown>) : [k],
  );
}

test('README.md and docs/architecture.md draw the same diagram', () => {
  assert.is(diagram('docs/architecture.md'), drawn);
});

test('every stream the routes send to is drawn ({p}:extract.<group> for the extractors)', () => {
  const streams = new Set(rules.flatMap((r) => r.targets).map((t) => (t.startsWith('extract.') ? 'extract.<group>' : t)));
  for (const s of streams) assert.ok(drawn.includes(`{p}:${s}`), `{p}:${s} is not drawn`);
});

test('each stage that fans out to review beside its next stage has a "review too" branch', () => {
  const fanOut = new Set(rules.filter((r) => r.targets.length > 1 && r.targets.includes('review')).map((r) => r.from));
  assert.equal([...fanOut].sort(), ['classify', 'validate'], 'the shipped config fans out from classify and validate');
  assert.is(drawn.match(/review too/g)?.length ?? 0, fanOut.size, 'a "review too" label per stage that fans out');
  const reviewAlone = rules.some((r) => r.targets.length === 1 && r.targets[0] === 'review');
  assert.is(/review only/.test(drawn), reviewAlone, 'review alone is drawn exactly when a rule sends there alone');
});

test('the diagram names no condition the routes do not test (it had a "no MPN/GTIN" path)', () => {
  const tested = new Set(rules.flatMap((r) => fieldsOf(r.when)));
  for (const field of ['mpn', 'gtin']) if (!tested.has(field)) assert.not.match(drawn, new RegExp(field, 'i'), `${field}: no route tests it`);
  assert.ok(tested.has('confidence') && /low confidence/.test(drawn), 'the confidence rule is drawn');
  assert.ok(tested.has('attributesComplete') && /attributes incomplete/.test(drawn), 'the attributesComplete rule is drawn');
});

test.run();
