import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransientError } from '../../lib/core/errors.js';

/** A full or failing disk: waited out (the batch is retried in place), never a record's fault. */
const DISK = /^(ENOSPC|EDQUOT|EIO|EMFILE|ENFILE)$/;

/**
 * A scratch file of this process only, read and written at offsets. It is unlinked as soon as it
 * is opened, so only the descriptor names it: nothing is left behind when the process is killed,
 * and nothing else can open it. What it holds lives in the kernel's page cache, not in the
 * process's memory: the kernel keeps the pages that are read often and may write out and drop the
 * rest, where the same bytes in the heap would count against the process until it exits.
 */
export class SpillFile {
  private fd: number;

  constructor(readonly dir: string = tmpdir()) {
    const path = join(dir, `pipeline-spill-${process.pid}-${randomUUID()}`);
    this.fd = onDisk(dir, () => openSync(path, 'wx+', 0o600));
    unlinkSync(path);
  }

  /** Write `len` bytes of `src` at file offset `at`. */
  write(src: Uint8Array, len: number, at: number): void {
    for (let done = 0; done < len;) done += onDisk(this.dir, () => writeSync(this.fd, src, done, len - done, at + done));
  }

  /** Read `len` bytes at file offset `at` into `into` (from its start); the file must hold them. */
  read(into: Uint8Array, len: number, at: number): void {
    for (let done = 0; done < len;) {
      const n = onDisk(this.dir, () => readSync(this.fd, into, done, len - done, at + done));
      if (n === 0) throw new Error(`spill file: ${len} bytes at ${at} asked, the file ends ${done} bytes in`);
      done += n;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Runs a file call on `dir`; a full or failing disk becomes a TransientError naming the directory, other errors pass. */
export function onDisk<T>(dir: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && DISK.test(code))
      throw new TransientError(`spill file in ${dir}: ${code} (settings.index.dir, or free space there)`, {
        cause: err,
        outage: 'dependency',
        dependency: `the disk of ${dir}`,
      });
    throw err;
  }
}
