/**
 * BIO decoding of token-classification output into entity spans of the input text.
 *
 * Labels are chosen per whitespace-delimited chunk first: a chunk's label
 * distribution is the mean of its tokens' distributions. Codes such as "DA1200.5"
 * or "KW-NT30HD" span several WordPiece tokens and pre-tokens; voting over the
 * chunk keeps them whole and lets inner pieces (which see the whole code) outvote
 * the first one. Only when a chunk as a whole votes O are its tokens' own labels
 * used, which finds the brand inside "StarTech.com" or "New-Ampad".
 */
import type { TokenSpans } from './align.js';

export interface Entity {
  /** Entity type without the B-/I- prefix, e.g. "BRAND". */
  type: string;
  /** `input.slice(start, end)`, in the original case. */
  text: string;
  start: number;
  end: number;
  /** Mean probability of the chosen labels over the entity's chunks or tokens. */
  score: number;
}

/** A decision unit (a chunk, or a token of an O chunk) with its best label. */
interface Unit {
  start: number;
  end: number;
  /** Entity type, "" for O. */
  type: string;
  /** The label was I- (continues an open entity of the same type). */
  inside: boolean;
  score: number;
}

interface Chunk extends Unit {
  tokens: Unit[];
}

/** Per label id: its entity type ("" for O) and whether it is I-; and per `I/B` + type, the label id. Built once per label list. */
interface LabelTable {
  type: string[];
  inside: boolean[];
  id: Map<string, number>;
}

const tables = new WeakMap<readonly string[], LabelTable>();

function labelTable(labels: readonly string[]): LabelTable {
  let t = tables.get(labels);
  if (t === undefined) {
    const tagged = (l: string) => l.startsWith('B-') || l.startsWith('I-');
    t = {
      type: labels.map((l) => (tagged(l) ? l.slice(2) : '')),
      inside: labels.map((l) => l.startsWith('I-')),
      id: new Map(labels.map((l, i) => [l, i])),
    };
    tables.set(labels, t);
  }
  return t;
}

function unit(start: number, end: number, dist: ArrayLike<number>, table: LabelTable, scale: number): Unit {
  let best = 0;
  for (let l = 1; l < table.type.length; l++) if (dist[l]! > dist[best]!) best = l;
  return { start, end, type: table.type[best]!, inside: table.inside[best]!, score: dist[best]! / scale };
}

/** Whether `input` has whitespace in [from, to): the gap between two tokens. */
function spaceBetween(input: string, from: number, to: number): boolean {
  for (let i = Math.max(0, from); i < to; i++) {
    const c = input.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(input.charAt(i)))) return true;
  }
  return false;
}

function chunks(input: string, probs: Float32Array, labels: readonly string[], spans: TokenSpans): Chunk[] {
  const L = labels.length;
  const table = labelTable(labels);
  const groups: Array<{ first: number; last: number }> = [];
  let prevEnd = -1;
  for (let t = 0; t < spans.start.length; t++) {
    const start = spans.start[t]!;
    if (start < 0) continue;
    const g = groups[groups.length - 1];
    if (g === undefined || spaceBetween(input, prevEnd, start)) groups.push({ first: t, last: t });
    else g.last = t;
    prevEnd = spans.end[t]!;
  }
  return groups.map(({ first, last }) => {
    const mean = new Float64Array(L);
    const tokens: Unit[] = [];
    for (let t = first; t <= last; t++) {
      const start = spans.start[t]!;
      if (start < 0) continue;
      const dist = probs.subarray(t * L, (t + 1) * L);
      for (let l = 0; l < L; l++) mean[l] = mean[l]! + dist[l]!;
      tokens.push(unit(start, spans.end[t]!, dist, table, 1));
    }
    const n = tokens.length;
    const chunk = unit(tokens[0]!.start, tokens[n - 1]!.end, mean, table, n);
    // A token-level entity inside an O chunk is less certain than a whole chunk:
    // score it by the chunk's mean probability of its type, so it ranks below.
    for (const tok of tokens) {
      if (tok.type === '') continue;
      const l = table.id.get(`${tok.inside ? 'I' : 'B'}-${tok.type}`);
      if (l !== undefined) tok.score = mean[l]! / n;
    }
    return { start: chunk.start, end: chunk.end, type: chunk.type, inside: chunk.inside, score: chunk.score, tokens };
  });
}

/** Drops punctuation at the ends of an entity, e.g. the ")" of "(UPC 012345678905)". */
function trim(input: string, start: number, end: number): [number, number] {
  const edge = /[^\p{L}\p{N}]/u;
  while (start < end && edge.test(input.charAt(start))) start++;
  while (end > start && edge.test(input.charAt(end - 1))) end--;
  return [start, end];
}

/**
 * @param probs softmax output, row-major [tokens, labels]
 * @param labels id2label, e.g. ["O", "B-BRAND", "I-BRAND", …]
 */
export function decodeBio(input: string, probs: Float32Array, labels: readonly string[], spans: TokenSpans): Entity[] {
  const entities: Entity[] = [];
  let open: { type: string; start: number; end: number; scoreSum: number; units: number } | null = null;
  const close = (): void => {
    if (open === null) return;
    const [start, end] = trim(input, open.start, open.end);
    if (end > start) entities.push({ type: open.type, text: input.slice(start, end), start, end, score: open.scoreSum / open.units });
    open = null;
  };
  const take = (u: Unit): void => {
    if (u.type === '') {
      close();
    } else if (u.inside && open !== null && open.type === u.type) {
      open.end = u.end;
      open.scoreSum += u.score;
      open.units++;
    } else {
      // B-, or an I- without a matching open entity (lenient BIO): start an entity.
      close();
      open = { type: u.type, start: u.start, end: u.end, scoreSum: u.score, units: 1 };
    }
  };
  for (const c of chunks(input, probs, labels, spans)) {
    if (c.type !== '') take(c);
    else c.tokens.forEach(take);
  }
  close();
  return entities;
}
