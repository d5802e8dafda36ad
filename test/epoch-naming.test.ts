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

const REPO = resolve(import.meta.dirname, '..');

/** The files that speak of the marker (its key, its ACL, its check, its alarm metric, its reserved name). */
const MARKER_FILES = new Set([
  'lib/stream/data-loss.ts',
  'lib/worker/data-loss-watch.ts',
  'lib/redis/keys.ts',
  'lib/ops/acl.ts',
  'lib/ops/acl-grants.ts',
  'lib/config/topology.ts',
  'lib/config/types.ts',
  'lib/observe/metrics.ts',
]);

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('"epoch" in lib/ is the data-loss marker alone (the read-loop counter is connGeneration)', () => {
  const elsewhere: string[] = [];
  for (const file of tsFiles(join(REPO, 'lib'))) {
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
