import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfigFile } from '../../lib/config/load.js';
import { PACKAGE_ROOT } from '../../lib/core/root.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { createClient } from '../../lib/redis/url.js';
import { STAGES } from '../../stages/index.js';

/**
 * The bin every child process runs (`pipeline worker <stage>`): the entry this process came from.
 * From the sources (tsx) that is the development entry `scripts/pipeline.mjs`; compiled, it is
 * `dist/scripts/cli.js`, never the other, so a parent and its children run the same code.
 */
export const BIN = import.meta.url.endsWith('.ts') ? resolve(PACKAGE_ROOT, 'scripts/pipeline.mjs') : resolve(import.meta.dirname, '../cli.js');
export const REPO = PACKAGE_ROOT;

export interface GlobalOptions {
  config?: string;
}

export function loadConfig(opts: GlobalOptions): ResolvedConfig {
  return loadConfigFile(opts.config ?? process.env.PIPELINE_CONFIG ?? undefined, { knownKinds: Object.keys(STAGES) });
}

/** A plain command connection for CLI tools (status, dlq, ...): fails fast instead of queueing. A cluster URL gives a Cluster client (lib/redis/url.ts). */
export function cliRedis(url: string): Redis {
  return createClient(url, { connectionName: 'pipeline:cli', maxRetriesPerRequest: 2, retryStrategy: (n) => (n > 3 ? null : 200 * n) });
}

/** Print an error for a human and exit non-zero. */
export function fatal(err: unknown): never {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
