/**
 * "epoch" in lib/ names one thing: the data-loss marker `{p}:epoch` (lib/stream/data-loss.ts,
 * lib/worker/data-loss-watch.ts). The read loop's connection counter (Connections.troubles when a
 * read was sent, lib/stream/group-reader.ts, lib/worker/consumer.ts) was called `epoch` too, so a
 * reader of either took one for the other; it is `connGeneration` now. No server needed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '../..');

/** The read loop's files (lib/stream, lib/worker) that speak of the marker: its check and its watch. */
const MARKER_FILES = new Set(['lib/stream/data-loss.ts', 'lib/worker/data-loss-watch.ts']);

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

// Where the read loop lives: there "epoch" can only mean the marker. (Elsewhere in lib/ the marker's
// key, ACL grants and the API server's watch name it freely.)
test('"epoch" in the read loop (lib/stream, lib/worker) is the data-loss marker alone (the counter is connGeneration)', () => {
  const elsewhere: string[] = [];
  for (const file of [...tsFiles(join(REPO, 'lib/stream')), ...tsFiles(join(REPO, 'lib/worker'))]) {
    const rel = relative(REPO, file);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        // "ms since (the) epoch" is the Unix epoch, not a name.
        if (/epoch/i.test(line.replace(/since (the )?epoch/gi, '')) && !MARKER_FILES.has(rel)) elsewhere.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.equal(elsewhere, [], `"epoch" outside the marker's files:\n${elsewhere.join('\n')}`);
});

test('the read loop carries connGeneration from the read to the batch', () => {
  for (const f of ['lib/stream/group-reader.ts', 'lib/worker/consumer.ts']) assert.match(readFileSync(join(REPO, f), 'utf8'), /connGeneration/, f);
});

test.run();
