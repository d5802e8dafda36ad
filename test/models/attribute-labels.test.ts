/**
 * The regex that labels the extractors' training titles with screen sizes (training/labels.ts)
 * took "3 in 1" apart from a size by refusing any size followed by a number, "55-Inch 1080p"
 * included: the TV titles' own screen sizes were labelled O, and the shipped electronics tagger
 * learnt to leave them (1 of 23 such dev titles given its size; 23 after). "in" alone keeps the guard.
 */
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadExtractor } from '../../lib/models/extractor.js';
import { DEFAULT_MODEL_PATH } from '../../lib/models/loader.js';
import { extractionFields } from '../../stages/extract.js';
import { identifierRules } from '../../stages/domain/identifier-rules.js';
import { loadDataset } from '../../training/data.js';
import { attributeSpans, GROUPS } from '../../training/labels.js';

const electronics = GROUPS.find((g) => g.attribute === 'SIZE')!;
const sizes = (title: string) => attributeSpans(title, electronics).map((s) => title.slice(s.start, s.end));

test('screen sizes followed by a number are labelled; "N in 1" is not a size', () => {
  assert.equal(sizes('Samsung UN55D8000 55-Inch 1080p 240Hz 3D LED HDTV Silver'), ['55-Inch']);
  assert.equal(sizes('Pioneer Ts-G4641R 4-Inch X 6-Inch 2-Way Speakers'), ['4-Inch', '6-Inch']);
  assert.equal(sizes('PYLE PLMRW65 6.5-Inch 200 Watt Two-Way White Wake Board Speakers'), ['6.5-Inch']);
  assert.equal(sizes('Ematic 10 in 1 Premium Accessory Kit for iPod Touch 3rd Gen Newest Model'), []);
  assert.equal(sizes('AVF 750S-A Standard Wall Mount for CRT TV Upto 27-Inch Silver'), ['27-Inch']);
});

test('the shipped electronics extractor gives the size of dev titles whose size is followed by a number', async () => {
  const rows = loadDataset().dev.filter((r) => electronics.categories.includes(r.category) && /\d-?\s?inch(?:es)?\s*-?\s*\d/i.test(r.title));
  assert.ok(rows.length >= 20, `${rows.length} dev titles`);
  const model = await loadExtractor('extract-electronics');
  const rules = identifierRules('test', {}, join(DEFAULT_MODEL_PATH, 'extract-electronics'));
  const found = await model.extract(rows.map((r) => r.title));
  const right = rows.filter((r, i) => {
    const size = (extractionFields(r.title, found[i]!, rules, undefined, ['size']).attributes as Record<string, { value?: number }> | undefined)?.size;
    const said = sizes(r.title).map((t) => Number.parseFloat(t));
    return size?.value !== undefined && said.includes(size.value);
  }).length;
  assert.ok(right / rows.length >= 0.8, `${right} of ${rows.length} sizes found`);
});

test.run();
