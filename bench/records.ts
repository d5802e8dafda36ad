import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ProductRecord } from '../lib/stream/codec.js';

const WORDS = [
  'Wireless',
  'Mouse',
  'Stereo',
  'Equalizer',
  'USB-C',
  'Cable',
  'Laptop',
  'Sleeve',
  'HDMI',
  'Adapter',
  'Black',
  'Portable',
  'Speaker',
  'Pro',
  'Mini',
];

/** A synthetic product of about 300 bytes as JSON (id, title, description, brand), the same for every side. */
export function syntheticRecord(i: number): ProductRecord {
  const w = (k: number) => WORDS[(i * 7 + k * 13) % WORDS.length]!;
  const title = `${w(1)} ${w(2)} ${w(3)} ${w(4)} Model K${72_000 + (i % 9_999)}US for Netbooks and Tablets`;
  const description = `The ${w(5)} ${w(6)} ships with a 2 year warranty, a carry pouch and a quick start guide. Compatible with most ${w(7)} devices; item ${i}.`;
  return { id: `b${i}`, title, description, brand: w(8) };
}

export const DEV_SET = resolve(import.meta.dirname, '../../shared/data/products/dev.jsonl');

/** Dev-set titles only, repeated (ids made unique) until there are `n` records. */
export function devTitles(n: number, file = DEV_SET): ProductRecord[] {
  const base = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { id: string; title: string });
  if (base.length === 0) throw new Error(`${file} has no records`);
  const out: ProductRecord[] = [];
  for (let i = 0; out.length < n; i++) {
    const r = base[i % base.length]!;
    out.push({ id: `${r.id}#${Math.floor(i / base.length)}`, title: r.title });
  }
  return out;
}
