import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A stage module (`"kind": "module:<file>"`) whose first batch, in any process, is held (it writes
 * `marker` with its pid, then waits: until the process is killed, or until the file `release` exists,
 * polled every 20 ms); every later batch takes `slowMs`. Returns the module's file (the caller removes it).
 */
export function slowStageModule(marker: string, slowMs: number, release?: string): string {
  const file = join(tmpdir(), `slow-stage-${process.pid}-${Math.random().toString(16).slice(2)}.mjs`);
  const hold = release
    ? `while (!existsSync(${JSON.stringify(release)})) await new Promise((r) => setTimeout(r, 20)); // held until released`
    : 'await new Promise(() => {}); // held until SIGKILL';
  writeFileSync(
    file,
    `import { existsSync, linkSync, unlinkSync, writeFileSync } from 'node:fs';
// The marker appears whole (a hard link to a file already written: a reader never sees it empty) and once (link fails if it exists).
function claimMarker() {
  const tmp = ${JSON.stringify(marker)} + '.' + process.pid;
  writeFileSync(tmp, String(process.pid));
  try {
    linkSync(tmp, ${JSON.stringify(marker)});
    return true;
  } catch {
    return false;
  } finally {
    unlinkSync(tmp);
  }
}
export function createStage() {
  return {
    kind: 'slow',
    async process(batch) {
      if (!existsSync(${JSON.stringify(marker)}) && claimMarker()) {
        ${hold}
        return batch.map(() => ({ ok: true, output: { slow: true } }));
      }
      await new Promise((r) => setTimeout(r, ${slowMs}));
      return batch.map(() => ({ ok: true, output: { slow: true } }));
    },
  };
}
`,
  );
  return file;
}
