import { rename, utimes, writeFile } from 'node:fs/promises';

let seq = 0;

/**
 * Write `data` to `path` so that a reader sees the old content or the new, never a part: write a
 * temporary file beside it, then rename it over `path` (atomic on one filesystem). Probes read
 * the watchdog's progress file at any moment; `writeFile` alone truncates first, and a read in
 * between saw an empty file. `mtimeMs`: the file's modification time (age probes read it). @defaultValue now
 */
export async function writeFileAtomic(path: string, data: string, mtimeMs?: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${seq++}.tmp`;
  await writeFile(tmp, data);
  if (mtimeMs !== undefined) await utimes(tmp, new Date(), new Date(mtimeMs));
  await rename(tmp, path);
}
