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
    `import { existsSync, writeFileSync } from 'node:fs';
export function createStage() {
  return {
    kind: 'slow',
    async process(batch) {
      if (!existsSync(${JSON.stringify(marker)})) {
        writeFileSync(${JSON.stringify(marker)}, String(process.pid));
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
