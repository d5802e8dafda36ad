import type { ResolvedStage } from '../lib/config/types.js';
import { ConfigError } from '../lib/core/errors.js';
import type { KeyGrant } from '../lib/ops/acl.js';
import type { Keys } from '../lib/redis/keys.js';

/**
 * The Redis data keys (beyond its streams) each stage kind touches, and with which commands, for
 * `pipeline acl`. Keep in step with the stage: a command missing here shows up as NOPERM in the
 * ACL end-to-end test (test/ops/acl-e2e.test.ts). A config may grant more per stage with `settings.acl`:
 * `[{ "keys": ["cache:*"], "commands": ["get", "set"], "mode": "rw" }]` (keys under the pipeline's tag).
 */
export function stageDataAccess(stage: ResolvedStage, keys: Keys): KeyGrant[] {
  const grants: KeyGrant[] = [];
  switch (stage.kind) {
    case 'store':
      // stages/sinks/redis.ts → lib/lua/upsert-product-5.lua (it SREMs the old category's set by name,
      // and HDELs the indexed fields the stored version does not have).
      if ((stage.settings.sink ?? 'redis') === 'redis') {
        grants.push({
          keys: [keys.product('*'), keys.products, keys.category('*')],
          mode: 'rw',
          commands: ['hmget', 'hincrby', 'hset', 'hdel', 'sadd', 'srem'],
        });
      }
      // Any sink: the `pipeline reprocess` marker of a product is deleted once its new version is stored (upsert-product-5.lua, drop-reprocess-marker-1.lua).
      grants.push({ keys: [keys.reprocess('*')], mode: 'rw', commands: ['hmget', 'del'] });
      break;
    case 'match':
      // stages/match.ts: `{p}:vectors:<category>` hash, `{p}:vectors:<category>:log` list, `{p}:vectors::category` record
      // (HGET, HDEL: vector-add-N.lua, which also reads a stored product's category), `:centroids` string (GET, SET NX).
      grants.push({ keys: [keys.extra('vectors:*')], mode: 'rw', commands: ['lrange', 'hmget', 'hget', 'hset', 'hdel', 'rpush', 'get', 'set'] });
      grants.push({ keys: [keys.product('*')], mode: 'r', commands: ['hget'] });
      // stages/domain/match-recheck.ts: `{p}:match-recheck` list, `{p}:match-corrected:<key>` markers (match-correct-N.lua; its XADD goes to the route targets).
      grants.push({
        keys: [keys.extra('match-recheck'), keys.extra('match-corrected:*')],
        mode: 'rw',
        commands: ['rpush', 'ltrim', 'lrange', 'lrem', 'get', 'set'],
      });
      break;
  }
  return [...grants, ...configGrants(stage, keys)];
}

/** `settings.acl` of a stage, validated. */
function configGrants(stage: ResolvedStage, keys: Keys): KeyGrant[] {
  const raw = stage.settings.acl;
  if (raw === undefined) return [];
  const where = `stages.${stage.name}.settings.acl`;
  if (!Array.isArray(raw)) throw new ConfigError(where, 'expected an array of { keys, commands, mode }');
  return raw.map((g: unknown, i) => {
    const at = `${where}[${i}]`;
    const o = g as { keys?: unknown; commands?: unknown; mode?: unknown };
    const strings = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && /^[^\s()]+$/.test(x));
    if (!strings(o.keys)) throw new ConfigError(`${at}.keys`, 'expected a non-empty array of key patterns (no spaces or parentheses)');
    if (!strings(o.commands) || (o.commands as string[]).some((c) => /^[-+@]|^all/i.test(c))) {
      throw new ConfigError(`${at}.commands`, 'expected a non-empty array of command names (e.g. "get", "xinfo|stream")');
    }
    const mode = o.mode ?? 'rw';
    if (mode !== 'r' && mode !== 'w' && mode !== 'rw') throw new ConfigError(`${at}.mode`, 'expected "r", "w" or "rw"');
    return { keys: (o.keys as string[]).map((k) => keys.extra(k)), commands: (o.commands as string[]).map((c) => c.toLowerCase()), mode };
  });
}
