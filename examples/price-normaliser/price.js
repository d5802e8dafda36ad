// @ts-check
/**
 * A stage kind of your own: normalises the free-text `price` of each product ("€1.299,00",
 * "$12.50", "12,5 USD") into `{ amount, currency }`. Loaded by the pipeline from
 * `"kind": "module:./price.js"` in pipeline.json; `npx tsc --noEmit` checks it against the
 * exported `Stage` interface (the JSDoc types below).
 */
import { BadRecordError, fail, ok } from 'streamline-enrich';

/** @type {Record<string, string>} */
const SYMBOLS = { '€': 'EUR', $: 'USD', '£': 'GBP', '¥': 'JPY' };

/**
 * "1.299,00" and "1,299.00" → 1299; "12,5" → 12.5: the last separator followed by 1-2 digits is the decimal one.
 * @param {string} digits
 */
export function parseAmount(digits) {
  const m = /^(.*?)(?:[.,](\d{1,2}))?$/.exec(digits);
  if (!m) return NaN;
  const whole = (m[1] ?? '').replace(/[.,\s']/g, '');
  if (!/^\d+$/.test(whole)) return NaN;
  return Number(m[2] ? `${whole}.${m[2]}` : whole);
}

/**
 * @param {unknown} price
 * @returns {{ amount: number, currency: string }}
 */
export function normalisePrice(price) {
  if (typeof price === 'number' && Number.isFinite(price) && price >= 0) return { amount: price, currency: 'unknown' };
  if (typeof price !== 'string') throw new BadRecordError(`price: expected a string or number, got ${JSON.stringify(price)}`);
  const s = price.trim();
  const code = /\b([A-Z]{3})\b/.exec(s)?.[1];
  const symbol = Object.keys(SYMBOLS).find((k) => s.includes(k));
  const currency = code ?? (symbol ? SYMBOLS[symbol] : undefined);
  const digits = s.replace(/[A-Z]{3}|[€$£¥]/g, '').trim();
  const amount = parseAmount(digits);
  if (!currency || !Number.isFinite(amount)) throw new BadRecordError(`price: cannot read ${JSON.stringify(price)} as an amount and a currency`);
  return { amount, currency };
}

/**
 * The module's export: a factory the worker calls once with the stage's context.
 * @type {import('streamline-enrich').StageFactory}
 */
export function createStage(ctx) {
  const field = String(ctx.stage.settings.field ?? 'price');
  return {
    kind: 'price-normaliser',
    async process(batch) {
      return batch.map((m) => {
        try {
          return ok(normalisePrice(m.envelope.input[field]));
        } catch (err) {
          // A BadRecordError is permanent: the message goes to the dead-letter stream at once.
          return fail(/** @type {Error} */ (err));
        }
      });
    },
  };
}
