import { library, libraryPresent, loadLibrary } from '../../lib/redis/functions.js';
import { describeRedisUrl } from '../../lib/redis/url.js';
import { adminOnlyRefusal, cliRedis, loadConfig, type GlobalOptions } from './common.js';

/**
 * `pipeline functions load|status`: the pipeline's Redis Functions library (lib/redis/functions.ts).
 * `load` (a user allowed FUNCTION LOAD, e.g. the admin): load it where it is missing, on a Cluster
 * on every master; `pipeline acl --apply` does the same; a pipeline user refused says to run it as the
 * admin. `status` (the observer may: FCALL_RO of the version probe): exit 0 when it is there, 3 when not.
 */
export async function functionsCommand(action: string, opts: GlobalOptions): Promise<void> {
  if (action !== 'load' && action !== 'status') throw new Error(`functions: expected load or status, got ${JSON.stringify(action)}`);
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  const lib = library();
  const where = describeRedisUrl(config.redis.url);
  try {
    if (action === 'load') {
      const n = await loadLibrary(redis, lib).catch(async (err: unknown) => {
        throw await adminOnlyRefusal(err, 'pipeline functions load', 'loads the Redis Functions library (FUNCTION LOAD)', config.redis.url);
      });
      process.stdout.write(`${lib.name}: loaded on ${n} server(s) of ${where}${n === 0 ? ' (already there)' : ''}\n`);
    } else {
      const present = await libraryPresent(redis, lib);
      process.stdout.write(`${lib.name}: ${present ? 'loaded' : 'missing'} on ${where}\n`);
      if (!present) process.exitCode = 3;
    }
  } finally {
    redis.disconnect();
  }
}
