/**
 * extract-*: token classification with BIO tags for BRAND, MPN, GTIN and one
 * regex-labelled attribute per group. Network: WordPiece embeddings → kernel-3
 * Conv1d + ReLU layers (dilations 1/2/4 widen the context) → linear per token.
 *
 * Brand and model-number patterns are shared across groups and each group alone
 * has too little data, so a base tagger is trained on all titles with every
 * group's attribute; each group's model is then that base with the output layer
 * cut to the group's labels, fine-tuned on the group's titles.
 */
import { decodeBio, type Entity } from '../lib/models/bio.js';
import { checkGtin } from '../stages/domain/gtin.js';

const isValidGtin = (code: string): boolean => checkGtin(code).valid;
import { insertGtin } from './augment-gtin.js';
import { leadingBrand } from './eval/slices.js';
import { fakeBrand, titleWords } from './fake-brand.js';
import type { ProductRow } from './data.js';
import { taggerGraph } from './graphs.js';
import { attributeSpans, bioLabels, findValue, foldValue, type ExtractorGroup, type Span } from './labels.js';
import { Adam } from './optim.js';
import type { Prng } from './prng.js';
import { dequantizeRows, quantizeRows } from './quantize.js';
import { encode, type Encoding, type Vocab } from './tokenizer.js';
import { backward, buffers, forward, narrowNet, newNet, type Buffers, type Net, type NetShape } from './tagger-net.js';
import { round4 } from './train-classifier.js';
import type { TrainedModel } from './trained-model.js';

/** The network's sizes (NetShape: dim, hidden, dilations) and how it is trained. */
export interface TaggerOptions extends NetShape {
  /** Epochs of the shared base over all titles. */
  epochs: number;
  /** Epochs of each group's fine-tuning on its own titles. */
  groupEpochs: number;
  batch: number;
  lr: number;
  /** Share of training titles that get a GTIN inserted. */
  gtinShare: number;
  /** Share of inserted GTINs with a wrong check digit (still tagged GTIN). */
  invalidGtinShare: number;
  /**
   * Share of the titles that start with their brand that also train as a copy with the brand
   * moved to the end (after one of BRAND_LAST_SEPARATORS). Trained on the data's titles alone,
   * which nearly all start with the brand, the taggers found 8.7 % of dev brands moved to the
   * end (eval slice brand-last) against 98 % in place: they had learnt the place, not the brand.
   * A share of 0.2 found 89 %; beside the brand-swapped copies below 0.2 found 86-87 % (two seeds)
   * and 0.3 finds 88-90 %.
   */
  brandLastShare: number;
  /**
   * Of those copies, the share with the brand after the next one or two words instead ("Genuine HP
   * 61 …" style): of dev brands put there, the taggers without copies found 12 %, with end-only
   * copies 31 %, with these 70 %.
   */
  brandMidShare: number;
  /**
   * Share of the titles that start with their brand that also train as a copy with a made-up brand
   * in its place (fake-brand.ts). Without them the taggers had learnt which words are brands: built
   * with a tenth of the brands left out of training (`npm run models -- --hold-out-brands 0.1`),
   * they found 32 % of those brands (35 % averaged over brands); with these copies 53 % (55 %).
   */
  brandSwapShare: number;
  /** Of those copies, the share with the made-up brand moved as in `brandLastShare` (so that place is not all a brand is). */
  brandSwapMoveShare: number;
}

/** How a moved brand is joined to the rest of the title in the training copies. */
export const BRAND_LAST_SEPARATORS = [' - ', ' by ', ', ', ' | ', ' '] as const;

export const TAGGER_DEFAULTS: TaggerOptions = {
  dim: 48,
  hidden: 48,
  dilations: [1, 2, 4],
  epochs: 3,
  groupEpochs: 1,
  batch: 16,
  lr: 3e-3,
  gtinShare: 0.15,
  invalidGtinShare: 0.25,
  brandLastShare: 0.3,
  brandMidShare: 0.3,
  brandSwapShare: 0.5,
  brandSwapMoveShare: 0.1,
};

/** A 12–14 digit mpn with a valid check digit is a barcode, so it is labelled GTIN. */
const mpnIsGtin = (mpn: string): boolean => /^\d{12,14}$/.test(mpn) && isValidGtin(mpn);

/** Gold spans of a title, highest priority first; spans overlapping an earlier one are dropped. */
function goldSpans(title: string, row: ProductRow, groups: readonly ExtractorGroup[], gtin: Span | null): Span[] {
  const spans: Span[] = [];
  if (gtin !== null) spans.push(gtin);
  const brand = row.brand ? findValue(title, row.brand) : null;
  if (brand) spans.push({ type: 'BRAND', ...brand });
  const mpn = row.mpn ? findValue(title, row.mpn) : null;
  if (mpn && row.mpn) spans.push({ type: mpnIsGtin(row.mpn) ? 'GTIN' : 'MPN', ...mpn });
  for (const g of groups) spans.push(...attributeSpans(title, g));
  const kept: Span[] = [];
  for (const s of spans) if (!kept.some((k) => s.start < k.end && k.start < s.end)) kept.push(s);
  return kept;
}

function tokenLabels(enc: Encoding, spans: readonly Span[], index: Map<string, number>): Int32Array {
  const y = new Int32Array(enc.ids.length);
  for (const s of spans) {
    let first = true;
    for (let t = 0; t < enc.ids.length; t++) {
      if (enc.start[t]! < 0 || enc.start[t]! < s.start || enc.end[t]! > s.end) continue;
      y[t] = index.get(`${first ? 'B' : 'I'}-${s.type}`) ?? 0;
      first = false;
    }
  }
  return y;
}

interface Example {
  ids: Int32Array;
  y: Int32Array;
}

/**
 * `title` with its leading `brand` moved: to the end after one of BRAND_LAST_SEPARATORS, or (a
 * share `midShare` of the time) after the next one or two words; null when the title does not
 * start with the brand (or, moved inside, has too few words: then it goes to the end).
 */
export function movedBrand(title: string, brand: string, rng: Prng, midShare: number): string | null {
  const sep = rng.pick(BRAND_LAST_SEPARATORS);
  const mid = rng.next() < midShare;
  const k = 1 + rng.int(2);
  const lead = leadingBrand(title, brand);
  if (lead === null) return null;
  const words = lead.rest.split(' ');
  if (!mid || words.length <= k) return `${lead.rest}${sep}${lead.brand}`;
  return [...words.slice(0, k), lead.brand, ...words.slice(k)].join(' ');
}

/**
 * Encodes and labels titles, inserting GTINs into a share of them and adding brand-moved copies of
 * some (`brandLastShare`) and brand-swapped copies (`brandSwapShare`).
 */
function examples(
  rows: readonly ProductRow[],
  groups: readonly ExtractorGroup[],
  labels: readonly string[],
  vocab: Vocab,
  rng: Prng,
  o: TaggerOptions,
): Example[] {
  const index = new Map(labels.map((l, i) => [l, i]));
  const labelled = (title: string, row: ProductRow, gtin: Span | null): Example => {
    const enc = encode(title, vocab);
    return { ids: enc.ids, y: tokenLabels(enc, goldSpans(title, row, groups, gtin), index) };
  };
  // Its own stream (a fork does not advance `rng`), so the GTIN insertions stay as they were.
  const move = rng.fork(7);
  const swap = rng.fork(8);
  const words = titleWords(rows.map((r) => r.title));
  const out: Example[] = [];
  for (const row of rows) {
    let title = row.title;
    let gtin: Span | null = null;
    if (rng.next() < o.gtinShare) {
      const aug = insertGtin(title, rng, rng.next() >= o.invalidGtinShare);
      title = aug.title;
      gtin = aug.gtin;
    }
    out.push(labelled(title, row, gtin));
    const moved = row.brand && move.next() < o.brandLastShare ? movedBrand(row.title, row.brand, move, o.brandMidShare) : null;
    if (moved !== null) out.push(labelled(moved, row, null));
    const lead = row.brand && swap.next() < o.brandSwapShare ? leadingBrand(row.title, row.brand) : null;
    if (lead !== null) {
      const fake = fakeBrand(swap, words);
      const swapped = `${fake} ${lead.rest}`;
      const title = swap.next() < o.brandSwapMoveShare ? (movedBrand(swapped, fake, swap, o.brandMidShare) ?? swapped) : swapped;
      out.push(labelled(title, { ...row, brand: fake }, null));
    }
  }
  return out;
}

/** Adam with linear decay to 10 % of `lr`; loss is the mean over a batch's tokens. */
function fit(net: Net, data: readonly Example[], epochs: number, lr: number, rng: Prng, o: TaggerOptions): void {
  const adam = new Adam([net.emb, ...net.convs.flatMap((c) => [c.w, c.b]), net.wo, net.bo], { lr });
  const buf = buffers(net, Math.max(2, ...data.map((d) => d.ids.length)));
  const order = data.map((_, i) => i);
  const totalSteps = epochs * Math.ceil(data.length / o.batch);
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    rng.shuffle(order);
    for (let b = 0; b < order.length; b += o.batch) {
      let tokens = 0;
      for (let k = b; k < Math.min(order.length, b + o.batch); k++) {
        const { ids, y } = data[order[k]!]!;
        tokens += ids.length;
        forward(net, net.emb.w, ids, buf);
        backward(net, ids, y, buf);
      }
      adam.lr = lr * (1 - 0.9 * (step++ / totalSteps));
      adam.step(1 / tokens);
    }
  }
}

/** Entities the shipped extractor returns for a title (invalid GTINs dropped, as in extract()). */
function predict(net: Net, emb: Float32Array, title: string, vocab: Vocab, labels: readonly string[], buf: Buffers): Entity[] {
  const enc = encode(title, vocab);
  forward(net, emb, enc.ids, buf);
  return decodeBio(title, buf.probs.subarray(0, enc.ids.length * labels.length), labels, enc).filter((e) => e.type !== 'GTIN' || isValidGtin(e.text));
}

const best = (entities: Entity[], type: string): Entity | undefined => entities.filter((e) => e.type === type).sort((a, b) => b.score - a.score)[0];

function evaluate(
  net: Net,
  emb: Float32Array,
  dev: readonly ProductRow[],
  group: ExtractorGroup,
  vocab: Vocab,
  labels: readonly string[],
  rng: Prng,
): Record<string, number> {
  const buf = buffers(net, 512);
  let brandN = 0,
    brandOk = 0,
    mpnN = 0,
    mpnOk = 0,
    gtinOk = 0,
    gtinFalse = 0,
    attrN = 0,
    attrOk = 0;
  for (const row of dev) {
    const entities = predict(net, emb, row.title, vocab, labels, buf);
    const brand = row.brand ? findValue(row.title, row.brand) : null;
    if (brand) {
      brandN++;
      if (foldValue(best(entities, 'BRAND')?.text ?? '') === foldValue(row.title.slice(brand.start, brand.end))) brandOk++;
    }
    const mpn = row.mpn && !mpnIsGtin(row.mpn) ? findValue(row.title, row.mpn) : null;
    if (mpn) {
      mpnN++;
      if (foldValue(best(entities, 'MPN')?.text ?? '') === foldValue(row.title.slice(mpn.start, mpn.end))) mpnOk++;
    }
    const attr = attributeSpans(row.title, group)[0];
    if (attr) {
      attrN++;
      if (entities.some((e) => e.type === group.attribute && e.start === attr.start && e.end === attr.end)) attrOk++;
    }
    if (entities.some((e) => e.type === 'GTIN')) gtinFalse++;
    const aug = insertGtin(row.title, rng, true);
    if (predict(net, emb, aug.title, vocab, labels, buf).some((e) => e.type === 'GTIN' && checkGtin(e.text).value === aug.code)) gtinOk++;
  }
  const attr = group.attribute.toLowerCase();
  return {
    brand_exact: round4(brandN ? brandOk / brandN : 0),
    brand_rows: brandN,
    mpn_exact: round4(mpnN ? mpnOk / mpnN : 0),
    mpn_rows: mpnN,
    gtin_found: round4(dev.length ? gtinOk / dev.length : 0),
    gtin_rows: dev.length,
    gtin_false_positive_rate: round4(dev.length ? gtinFalse / dev.length : 0),
    [`${attr}_exact`]: round4(attrN ? attrOk / attrN : 0),
    [`${attr}_rows`]: attrN,
  };
}

/** Trains the shared base, then one fine-tuned model per group in `groups`. */
export function trainTaggers(
  groups: readonly ExtractorGroup[],
  allGroups: readonly ExtractorGroup[],
  train: readonly ProductRow[],
  dev: readonly ProductRow[],
  vocab: Vocab,
  rng: Prng,
  o: TaggerOptions,
): Map<string, TrainedModel> {
  const baseLabels = bioLabels(allGroups.map((g) => g.attribute));
  const base = newNet(vocab.tokens.length, baseLabels.length, rng.fork(1), o);
  fit(base, examples(train, allGroups, baseLabels, vocab, rng.fork(2), o), o.epochs, o.lr, rng.fork(3), o);
  const out = new Map<string, TrainedModel>();
  for (const group of groups) {
    const grng = rng.fork(10 + allGroups.indexOf(group));
    const inGroup = (r: ProductRow): boolean => group.categories.includes(r.category);
    const labels = bioLabels([group.attribute]);
    const net = narrowNet(
      base,
      labels.map((l) => baseLabels.indexOf(l)),
    );
    const groupTrain = train.filter(inGroup);
    // Lower rate: adapt the base to the group without forgetting shared patterns.
    fit(net, examples(groupTrain, [group], labels, vocab, grng.fork(1), o), o.groupEpochs, o.lr / 3, grng.fork(2), o);
    const table = quantizeRows(net.emb.w, o.dim);
    const groupDev = dev.filter(inGroup);
    out.set(group.name, {
      graph: taggerGraph(group.name, { dim: o.dim, labels: labels.length, table, convs: net.convs.map((c) => c.layer), wo: net.wo.w, bo: net.bo.w }),
      config: {
        architecture: 'BertForTokenClassification',
        hiddenSize: o.hidden,
        vocab,
        labels,
        description: `${o.dim}-d int8 WordPiece embeddings -> ${o.dilations.length} kernel-3 Conv1d+ReLU (${o.hidden} ch, dilations ${o.dilations.join('/')}) -> ${labels.length} BIO logits per token`,
      },
      metrics: {
        ...evaluate(net, dequantizeRows(table, o.dim), groupDev, group, vocab, labels, grng.fork(3)),
        train_rows: groupTrain.length,
        dev_rows: groupDev.length,
      },
    });
  }
  return out;
}
