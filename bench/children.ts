import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** A bench child process (a stage worker or a baseline loop) behind the ready/go gate. */
export interface BenchChild {
  readonly label: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the child's ready message once it has loaded and connected. */
  readonly ready: Promise<Record<string, unknown>>;
  /** Resolves with the first `result` message the child sends. */
  readonly result: Promise<Record<string, unknown>>;
  go(): void;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, wait for exit (SIGKILL after `killAfterMs`). */
  stop(killAfterMs?: number): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** Write a V8 CPU profile of this child into the folder. */
  cpuProfDir?: string;
}

const HERE = resolve(import.meta.dirname);
/**
 * Stage processes load the code the way `scripts/pipeline.mjs` does: through scripts/register.mjs
 * when the project has one (tsx plus its loader settings), else tsx alone.
 */
const REGISTER = resolve(HERE, '../register.mjs');
const LOADER = existsSync(REGISTER) ? REGISTER : 'tsx';

/** Fork `bench/<entry>` through tsx with an IPC channel; its output goes to ours. Env BENCH_CHILD_FLAGS adds Node/V8 flags to every child (e.g. `--max-semi-space-size=8`). */
export function spawnChild(label: string, entry: string, args: readonly string[], opts: SpawnOptions = {}): BenchChild {
  const execArgv = ['--import', LOADER, ...(process.env.BENCH_CHILD_FLAGS ?? '').split(' ').filter(Boolean)];
  // One folder per child: Node names each thread's profile CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile.
  if (opts.cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${resolve(opts.cpuProfDir, label.replace(/[^\w.-]/g, '_'))}`);
  const child = fork(resolve(HERE, entry), [...args], {
    execArgv,
    env: { LOG_LEVEL: 'error', ...process.env, ...opts.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const waitFor = (type: string) =>
    new Promise<Record<string, unknown>>((res, rej) => {
      const onMessage = (m: unknown) => {
        const msg = m as { type?: string };
        if (msg?.type !== type) return;
        child.off('message', onMessage);
        res(msg as Record<string, unknown>);
      };
      child.on('message', onMessage);
      child.once('exit', (code, signal) => rej(new Error(`${label} exited (${code ?? signal}) before '${type}'`)));
    });
  const ready = waitFor('ready');
  const result = waitFor('result');
  ready.catch(() => {});
  result.catch(() => {});
  return {
    label,
    process: child,
    pid: child.pid!,
    ready,
    result,
    go: () => child.connected && child.send('go'),
    exited,
    async stop(killAfterMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
}

/** Wait until every child is ready (rejects if one dies first). */
export async function allReady(children: readonly BenchChild[]): Promise<void> {
  await Promise.all(children.map((c) => c.ready));
}

export async function stopAll(children: readonly BenchChild[]): Promise<void> {
  await Promise.all(children.map((c) => c.stop()));
}
