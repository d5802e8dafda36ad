// @ts-check
/**
 * A sink of your own, written to the sink contract (docs/extending.md): one JSON line per stored
 * version of a product, appended to a file. Used by the store stage through
 * `"settings": { "sink": "module:./jsonl-sink.js", "file": "..." }`; the file is `settings.file`,
 * relative to the config file as every path in a config is (docs/configuration.md "Paths"), or env
 * PRICE_EXAMPLE_OUT.
 *
 * Delivery to a sink is at least once: a worker killed after `write` and before the batch's ack,
 * or a batch retried after a failure, brings products to `write` again, with the same `stream` and
 * `entryId` (a delivery's identity: entry ids are per stream). So this sink keeps, per key, the
 * newest `version` and every delivery it wrote (read back from the file in `init`, as a restarted
 * worker must), and for each product
 * - skips it when it wrote that delivery for the key already (a re-delivery: no second line, also
 *   for a batch with two entries of one key, where the last one written is only one of them),
 * - drops it when its version is older than the one written (newest wins; counted as `stale`),
 * - appends it otherwise. A reader takes the last line of each key.
 * A line cut short by a crash in the middle of an append is cut off in `init` (its batch was not
 * acked: it comes again). `write` resolves once the lines are fsynced. One store worker per file:
 * the index is this process's own.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, fstatSync, ftruncateSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Stream entry ids ("<ms>-<seq>") in order: -1, 0 or 1.
 * @param {string} a
 * @param {string} b
 */
export function compareVersions(a, b) {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? Math.sign(am - bm) : Math.sign(as - bs);
}

/**
 * A delivery's identity: "<stream>/<entryId>", the bare entry id when the stream is unknown.
 * @param {{ entryId: string, stream?: string }} p
 */
export const deliveryOf = (p) => (p.stream ? `${p.stream}/${p.entryId}` : p.entryId);

/** @typedef {{ version?: string, written: Set<string> }} Written the newest version of a key and the deliveries written for it */

/**
 * What the file holds per key: the newest version and the deliveries of its lines. A last line
 * without its newline (a crash mid-append) is cut off first.
 * @param {string} file
 * @returns {Map<string, Written>}
 */
export function readIndex(file) {
  /** @type {Map<string, Written>} */
  const index = new Map();
  if (!existsSync(file)) return index;
  const fd = openSync(file, 'r+');
  try {
    const size = fstatSync(fd).size;
    const last = Buffer.alloc(1);
    if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) {
      const text = readFileSync(fd);
      ftruncateSync(fd, text.lastIndexOf(0x0a) + 1);
    }
  } finally {
    closeSync(fd);
  }
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const { key, version, entryId, stream } = JSON.parse(line);
    const had = index.get(key) ?? { written: new Set() };
    had.written.add(deliveryOf({ entryId, stream }));
    if (!had.version || !version || compareVersions(version, had.version) >= 0) had.version = version ?? had.version;
    index.set(key, had);
  }
  return index;
}

/** @type {(ctx: import('streamline-enrich').StageContext) => import('streamline-enrich/sink').Sink} */
export function createSink(ctx) {
  const file = process.env.PRICE_EXAMPLE_OUT ?? resolve(dirname(ctx.config.source), String(ctx.stage.settings.file ?? 'prices.jsonl'));
  /** @type {Map<string, Written>} */
  let index = new Map();
  return {
    name: 'jsonl',
    async init() {
      index = readIndex(file);
    },
    async write(products) {
      let stale = 0;
      /** @type {string[]} */
      const lines = [];
      const next = new Map(index);
      for (const p of products) {
        const had = next.get(p.key);
        // Written already: a re-delivery (a line from before `stream` was written knows the bare id).
        if (had && (had.written.has(deliveryOf(p)) || had.written.has(p.entryId))) continue;
        if (had?.version && p.version && compareVersions(p.version, had.version) < 0) {
          stale++; // an older version than the one written: newest wins
          continue;
        }
        // A copy of the set: `index` changes only once the lines are in the file.
        next.set(p.key, { version: p.version ?? had?.version, written: new Set(had?.written).add(deliveryOf(p)) });
        const price = p.doc.outputs && /** @type {any} */ (p.doc.outputs).price;
        lines.push(JSON.stringify({ key: p.key, price, version: p.version, entryId: p.entryId, stream: p.stream, storedAt: p.storedAt }));
      }
      if (lines.length > 0) {
        const fh = await open(file, 'a');
        try {
          await fh.appendFile(lines.join('\n') + '\n');
          await fh.sync(); // durable before the store acks the batch
        } finally {
          await fh.close();
        }
      }
      index = next; // only once the lines are in the file: a failed write is written again when retried
      return { stale };
    },
    async close() {},
  };
}
