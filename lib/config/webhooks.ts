import { ConfigError } from '../core/errors.js';
import { configInt } from './sections.js';
import { NAME_RE } from './topology.js';
import { WEBHOOK_DEFAULTS, WEBHOOK_EVENTS, type WebhookEvent, type WebhookOptions, type WebhookSettings } from './webhook-settings.js';

export { WEBHOOK_DEFAULTS, WEBHOOK_EVENTS, type WebhookEvent, type WebhookOptions, type WebhookSettings } from './webhook-settings.js';

const KEYS = new Set(['name', 'url', 'events', 'secretEnv', '$comment', ...Object.keys(WEBHOOK_DEFAULTS)]);
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Variables the pipeline's own processes read (and the rendered deploy files set): a secret under
 * one of these names would replace it in the webhooks container's environment (deploy/render-webhooks.ts).
 */
const RESERVED_ENV = /^(REDIS_URL|DATABASE_URL|PIPELINE(_.*)?|WORKER_SHARDS|STATSD_.*|LOG_.*|API_TOKENS|MODELS_DIR|PORT|HOST|NODE_.*|PATH|HOME|USER|PG.*)$/;

/** The config's `webhooks` list, checked field by field (a ConfigError names `webhooks[i].<field>`), defaults filled in. */
export function parseWebhooks(raw: unknown): WebhookSettings[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new ConfigError('webhooks', 'expected an array of { name, url, secretEnv, ... }');
  const names = new Set<string>();
  return raw.map((h: unknown, i) => {
    const where = `webhooks[${i}]`;
    if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new ConfigError(where, 'expected an object');
    const o = h as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!KEYS.has(k)) throw new ConfigError(`${where}.${k}`, `unknown key (known: ${[...KEYS].filter((x) => x !== '$comment').join(', ')})`);
    if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) throw new ConfigError(`${where}.name`, 'expected a name of letters, digits, . _ : -');
    if (names.has(o.name)) throw new ConfigError(`${where}.name`, `duplicate webhook ${o.name}`);
    names.add(o.name);
    const url = checkUrl(`${where}.url`, o.url);
    if (typeof o.secretEnv !== 'string' || !ENV_RE.test(o.secretEnv))
      throw new ConfigError(`${where}.secretEnv`, 'expected the name of an environment variable holding the secret (letters, digits, _)');
    if (RESERVED_ENV.test(o.secretEnv))
      throw new ConfigError(
        `${where}.secretEnv`,
        `${o.secretEnv} is a variable the pipeline itself reads: name the secret's own variable (e.g. SHOP_WEBHOOK_SECRET)`,
      );
    const events = o.events === undefined ? [...WEBHOOK_EVENTS] : checkEvents(`${where}.events`, o.events);
    const options = { ...WEBHOOK_DEFAULTS };
    for (const k of Object.keys(WEBHOOK_DEFAULTS) as (keyof WebhookOptions)[]) if (o[k] !== undefined) options[k] = configInt(`${where}.${k}`, o[k]);
    if (options.backoffMaxMs < options.backoffBaseMs)
      throw new ConfigError(`${where}.backoffMaxMs`, `${options.backoffMaxMs} is below backoffBaseMs (${options.backoffBaseMs})`);
    // An entry in retry is touched before each attempt: it is never idle longer than one wait plus one request.
    if (options.claimMinIdleMs <= options.backoffMaxMs + options.timeoutMs)
      throw new ConfigError(
        `${where}.claimMinIdleMs`,
        `${options.claimMinIdleMs} must be above backoffMaxMs + timeoutMs (${options.backoffMaxMs + options.timeoutMs}), or a delivery still being retried would be claimed by another process and sent twice`,
      );
    return { ...options, name: o.name, url, events, secretEnv: o.secretEnv };
  });
}

function checkUrl(where: string, v: unknown): string {
  let u: URL;
  try {
    u = new URL(String(v));
  } catch {
    throw new ConfigError(where, `expected an http:// or https:// URL, got ${JSON.stringify(v)}`);
  }
  if (typeof v !== 'string' || (u.protocol !== 'http:' && u.protocol !== 'https:'))
    throw new ConfigError(where, `expected an http:// or https:// URL, got ${JSON.stringify(v)}`);
  return v;
}

function checkEvents(where: string, v: unknown): WebhookEvent[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(where, `expected a non-empty array of ${WEBHOOK_EVENTS.join(', ')}`);
  for (const e of v)
    if (!(WEBHOOK_EVENTS as readonly unknown[]).includes(e))
      throw new ConfigError(where, `unknown event ${JSON.stringify(e)} (known: ${WEBHOOK_EVENTS.join(', ')})`);
  return [...new Set(v as WebhookEvent[])];
}

/**
 * Each webhook's secret from the environment, at the start of `pipeline webhooks` (other commands
 * load the config without it): a variable unset or empty is a ConfigError naming `webhooks[i].secretEnv`.
 */
export function webhookSecrets(hooks: readonly WebhookSettings[], env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  return new Map(hooks.map((h) => [h.name, webhookSecret(hooks, h, env)]));
}

/** One webhook's secret (`webhooks dlq redeliver` needs only those of the webhooks it sends to), the same ConfigError when unset. */
export function webhookSecret(hooks: readonly WebhookSettings[], hook: WebhookSettings, env: NodeJS.ProcessEnv = process.env): string {
  const secret = env[hook.secretEnv];
  if (!secret)
    throw new ConfigError(
      `webhooks[${hooks.indexOf(hook)}].secretEnv`,
      `environment variable ${hook.secretEnv} is not set (it holds webhook ${hook.name}'s secret)`,
    );
  return secret;
}
