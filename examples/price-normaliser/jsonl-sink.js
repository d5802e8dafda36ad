// @ts-check
/**
 * A sink of your own: appends each stored product as one JSON line to a file. Used by the store
 * stage through `"settings": { "sink": "module:./jsonl-sink.js", "file": "..." }`; the store
 * acks a batch only after `write` resolves. The file is `settings.file` (relative to the working
 * directory), or env PRICE_EXAMPLE_OUT.
 */
import { appendFile } from 'node:fs/promises';

/** @type {(ctx: import('streamline-enrich').StageContext) => import('streamline-enrich/sink').Sink} */
export function createSink(ctx) {
  const file = process.env.PRICE_EXAMPLE_OUT ?? String(ctx.stage.settings.file ?? 'prices.jsonl');
  return {
    name: 'jsonl',
    async write(products) {
      const lines = products.map((p) => JSON.stringify({ key: p.key, price: p.doc.outputs && /** @type {any} */ (p.doc.outputs).price, storedAt: p.storedAt }));
      await appendFile(file, lines.join('\n') + '\n');
    },
    async close() {},
  };
}
