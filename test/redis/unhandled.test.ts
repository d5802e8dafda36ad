/**
 * The CLI's unhandled-rejection policy (scripts/commands/unhandled.ts): a Redis connection error
 * left unhandled by a client library (ioredis's Cluster ASKING during a slot move had ended workers
 * and the producer) is one warn line; anything else still ends the process.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { onUnhandledRejection } from '../../scripts/commands/unhandled.js';

const run = (err: unknown) => {
  const lines: string[] = [];
  let failed: unknown;
  onUnhandledRejection(
    err,
    (l) => lines.push(l),
    (e) => {
      failed = e;
      return undefined as never;
    },
  );
  return { lines, failed };
};

test('a lost Redis connection is logged and survived; a bug is fatal', () => {
  const lost = run(new Error('Connection is closed.'));
  assert.is(lost.failed, undefined);
  assert.is(JSON.parse(lost.lines[0]!).event, 'process.unhandled_rejection');
  const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
  const fatal = run(bug);
  assert.is(fatal.failed, bug);
  assert.equal(fatal.lines, []);
});

test.run();
