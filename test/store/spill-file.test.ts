import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TransientError } from '../../lib/core/errors.js';
import { classify } from '../../lib/core/failure-policy.js';
import { onDisk, SpillFile } from '../../stages/domain/spill-file.js';

test('a spill file is unlinked when opened, and reads back what was written at any offset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spill-file-'));
  try {
    const f = new SpillFile(dir);
    assert.equal(readdirSync(dir), []);
    f.write(Buffer.from('hello'), 5, 0);
    f.write(Buffer.from('world!'), 5, 1 << 20); // past the end: the gap reads as zeros
    const out = Buffer.alloc(5);
    f.read(out, 5, 1 << 20);
    assert.is(out.toString(), 'world');
    f.read(out, 5, 0);
    assert.is(out.toString(), 'hello');
    f.read(out, 5, 100);
    assert.equal([...out], [0, 0, 0, 0, 0]);
    assert.throws(() => f.read(out, 5, (1 << 20) + 3), /file ends 2 bytes in/);
    f.close();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a full disk is an outage (TransientError naming the directory, waited out); other file errors pass as they are', () => {
  const full = openSync('/dev/full', 'w');
  try {
    let caught: unknown;
    try {
      onDisk('/var/spill', () => writeSync(full, Buffer.from('x')));
    } catch (err) {
      caught = err;
    }
    assert.instance(caught, TransientError);
    assert.match((caught as Error).message, /spill file in \/var\/spill: ENOSPC/);
    assert.equal(classify(caught), { class: 'transient', outage: 'dependency' });
  } finally {
    closeSync(full);
  }
  assert.throws(
    () => onDisk('/x', () => openSync('/nonexistent-dir/f', 'r')),
    (err: Error) => !(err instanceof TransientError) && /ENOENT/.test(err.message),
  );
});

test.run();
