import { rename, writeFile } from 'node:fs/promises';

let seq = 0;

/**
 * Write `data` to `path` so that a reader sees the old content or the new, never a part: write a
 * temporary file beside it, then rename it over `path` (atomic on one filesystem). Probes read
 * the watchdog's progress file at any moment; `writeFile` alone truncates first, and a read in
 * between saw an empty file.
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${seq++}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
