import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { stageRedisUrlEnv } from '../../lib/config/load.js';
import {
  aclUsers,
  API_REDIS_URL_ENV,
  applyAcl,
  formatSetUser,
  generatePassword,
  k8sSecretName,
  serverPasswordHashes,
  type AclUser,
} from '../../lib/ops/acl.js';
import { WEBHOOKS_REDIS_URL_ENV } from '../../lib/ops/acl-webhooks.js';
import { describeRedisUrl, parseRedisUrl, redactUrl } from '../../lib/redis/url.js';
import { stageDataAccess } from '../../stages/access.js';
import { adminOnlyRefusal, checkWritable, cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface AclCliOptions extends GlobalOptions {
  /** Take each user's password from env REDIS_PASSWORD_<STAGE> / REDIS_PASSWORD_PRODUCER / REDIS_PASSWORD_OBSERVER / REDIS_PASSWORD_API. */
  passwordFromEnv?: boolean;
  /** acl (ACL SETUSER lines for redis-cli), env (REDIS_URL_<STAGE>=... lines), json, k8s (a Secret per user, as a kubectl List). @defaultValue acl, or env with --apply */
  format?: string;
  /** Run the rules against REDIS_URL (a user allowed to run ACL SETUSER and FUNCTION LOAD). */
  apply?: boolean;
  /** Also write the users' URLs as an env file (mode 0600). */
  writeEnv?: string;
  /** URL whose scheme/host/port/db the printed URLs use. @defaultValue REDIS_URL / redis.url */
  urlBase?: string;
  /** User name prefix. @defaultValue "<pipeline>-" */
  prefix?: string;
  /** Print passwords (in URLs) on stdout; otherwise they appear as `***` and only the --write-env file has them. */
  showSecrets?: boolean;
  /** Give every user a new password; otherwise a user that exists keeps the one it has. */
  rotate?: boolean;
}

/** The env var holding a user's password under --password-from-env. */
export function passwordEnv(u: { role: string; stage?: string }): string {
  return `REDIS_PASSWORD_${(u.stage ?? u.role).toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The env var a user's URL is handed over in (as aclUsers sets `env`). */
function userEnv(u: { role: string; stage?: string }): string {
  if (u.role === 'stage') return stageRedisUrlEnv(u.stage!);
  if (u.role === 'webhooks') return WEBHOOKS_REDIS_URL_ENV;
  return u.role === 'producer' ? 'PIPELINE_PRODUCER_REDIS_URL' : u.role === 'api' ? API_REDIS_URL_ENV : 'PIPELINE_OBSERVER_REDIS_URL';
}

/** What a user that is not a stage's runs, for the env file's comments. */
const RUNS: Record<string, string> = {
  producer: 'run `pipeline produce` with REDIS_URL=$PIPELINE_PRODUCER_REDIS_URL',
  observer: 'run `pipeline status` with REDIS_URL=$PIPELINE_OBSERVER_REDIS_URL',
  api: `\`pipeline serve\` and \`pipeline up --serve\` connect with $${API_REDIS_URL_ENV} when it is set`,
  webhooks: `\`pipeline webhooks\` connects with $${WEBHOOKS_REDIS_URL_ENV} when it is set`,
};

/** The env lines; a user whose password was kept on the server and is not known here gets a comment instead of a URL. */
export function envLines(users: readonly AclUser[], showSecrets = true): string {
  const lines = ['# Redis users for this pipeline (pipeline acl). Stages: `pipeline up` reads REDIS_URL_<STAGE>.'];
  for (const u of users) {
    lines.push(`# ${u.name}: ${u.summary}`);
    if (RUNS[u.role]) lines.push(`# ${RUNS[u.role]}`);
    if (u.url) lines.push(`${u.env}=${showSecrets ? u.url : redactUrl(u.url)}`);
    else
      lines.push(`# ${u.env}: password kept on the server, not known here (not in the --write-env file); \`pipeline acl --apply --rotate\` issues a new one`);
  }
  return lines.join('\n') + '\n';
}

/** NAME=value lines of an env file (comments and blanks skipped). */
function readEnvFile(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The password in a user URL (single-node, cluster or sentinel), or undefined. */
function urlPassword(url: string): string | undefined {
  try {
    const t = parseRedisUrl(url);
    if (t.kind !== 'single') return t.password;
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * `pipeline acl`: print (or apply) least-privilege ACL users for every stage, the producer and an
 * observer. Passwords: from env (--password-from-env); else, unless --rotate, the one a user
 * already has: taken from the --write-env file when the server (with --apply) holds it, or kept
 * on the server without being known here; else generated.
 */
export async function aclCommand(opts: AclCliOptions): Promise<void> {
  const config = loadConfig(opts);
  const format = opts.format ?? (opts.apply ? 'env' : 'acl');
  if (!['acl', 'env', 'json', 'k8s'].includes(format)) throw new Error(`--format: expected acl, env, json or k8s, got ${format}`);
  // Secret manifests with redis://user:***@ URLs would apply cleanly and break every worker that reads them.
  if (format === 'k8s' && opts.showSecrets !== true)
    throw new Error(
      '--format k8s prints Secret manifests that are applied as they are: add --show-secrets (the output then holds passwords), or use --write-env FILE',
    );
  if (opts.writeEnv) checkWritable(opts.writeEnv, `--write-env ${opts.writeEnv}`);
  // A bad --url-base had been reported as the config's `redis.url`.
  if (opts.urlBase !== undefined) parseRedisUrl(opts.urlBase, '--url-base');
  const base = { baseUrl: opts.urlBase ?? config.redis.url, prefix: opts.prefix, dataAccess: stageDataAccess };
  const known = !opts.rotate && opts.writeEnv && existsSync(opts.writeEnv) ? readEnvFile(opts.writeEnv) : new Map<string, string>();
  const admin = opts.apply ? cliRedis(config.redis.url) : undefined;
  try {
    // Which users exist on the server and with which password hashes (--apply without --rotate).
    const onServer = new Map<string, string[] | undefined>();
    if (admin && !opts.rotate && !opts.passwordFromEnv) {
      for (const u of aclUsers(config, { ...base, password: () => 'x' })) onServer.set(u.name, await serverPasswordHashes(admin, u.name));
    }
    const knownPassword = (u: { name: string; role: string; stage?: string }): string | undefined => {
      const line = [...known.entries()].find(([k]) => k === userEnv(u));
      return line ? urlPassword(line[1]) : undefined;
    };
    const kept: string[] = [];
    // undefined: generate one (aclUsers' default); null: keep the server's.
    const decide = (u: { name: string; role: string; stage?: string }): string | null | undefined => {
      if (opts.rotate) return undefined;
      const pw = knownPassword(u);
      const hashes = onServer.get(u.name);
      if (!admin || !hashes || hashes.length === 0) return pw;
      if (pw && hashes.includes(sha256(pw))) return pw;
      return null;
    };
    const final = aclUsers(config, {
      ...base,
      password: opts.passwordFromEnv
        ? (u) => {
            const name = passwordEnv(u);
            const pw = process.env[name];
            if (!pw) throw new Error(`--password-from-env: ${name} is not set (password of ${u.name})`);
            return pw;
          }
        : (u) => decide(u) ?? generatePassword(),
      keepPassword: opts.passwordFromEnv
        ? undefined
        : (u) => {
            const keep = decide(u) === null;
            if (keep) kept.push(u.name);
            return keep;
          },
    });

    // The env file first: once any server has a new password, its secret is on disk.
    if (opts.writeEnv) {
      writeFileSync(opts.writeEnv, envLines(final), { mode: 0o600 });
      chmodSync(opts.writeEnv, 0o600); // also when the file already existed
    }
    if (admin) {
      const servers = await applyAcl(admin, final);
      process.stderr.write(`applied ${final.length} ACL users and the Functions library to ${servers} server(s) of ${describeRedisUrl(config.redis.url)}\n`);
      if (kept.length) process.stderr.write(`kept the existing password of ${kept.join(', ')} (not in the --write-env file; --rotate issues new ones)\n`);
    }

    const show = opts.showSecrets === true;
    if (format === 'acl') process.stdout.write(final.map(formatSetUser).join('\n') + '\n');
    else if (format === 'env') process.stdout.write(envLines(final, show));
    else if (format === 'k8s') process.stdout.write(JSON.stringify(k8sSecrets(config.pipeline, final, show), null, 2) + '\n');
    else
      process.stdout.write(
        JSON.stringify(
          final.map((u) => ({
            name: u.name,
            role: u.role,
            stage: u.stage,
            env: u.env,
            url: show ? u.url : redactUrl(u.url),
            summary: u.summary,
            setuser: ['ACL', 'SETUSER', u.name, ...u.rules],
          })),
          null,
          2,
        ) + '\n',
      );

    if (format !== 'acl' && !show)
      process.stderr.write(
        `note: passwords shown as ***; ${opts.writeEnv ? `they are in ${opts.writeEnv} (0600)` : 'use --write-env FILE to keep them'}, or --show-secrets to print them\n`,
      );
    else if (format === 'acl' && !opts.passwordFromEnv && !opts.writeEnv) {
      process.stderr.write('note: passwords were generated and appear above only as hashes; use --write-env FILE or --password-from-env to keep them\n');
    }
  } catch (err) {
    // A user that may not run ACL SETUSER or FUNCTION LOAD (a pipeline user's URL in REDIS_URL): only the admin can; the generic hint said to run `pipeline acl --apply`.
    throw admin
      ? await adminOnlyRefusal(
          err,
          'pipeline acl --apply',
          'sets the ACL users (ACL SETUSER) and loads the Functions library (FUNCTION LOAD)',
          config.redis.url,
        )
      : err;
  } finally {
    admin?.disconnect();
  }
}

/**
 * A Kubernetes Secret per user (`k8sSecretName`: the stage Deployments of deploy/k8s read their
 * REDIS_URL from `<pipeline>-<stage>-redis`), as one `kubectl apply -f -`-able List. Users whose
 * password was kept and is not known here are left out (their Secret stays as it is).
 */
export function k8sSecrets(pipeline: string, users: readonly AclUser[], showSecrets: boolean): Record<string, unknown> {
  const items = users
    .filter((u) => u.url)
    .map((u) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: k8sSecretName(pipeline, u.stage ?? u.role),
        labels: { 'app.kubernetes.io/name': 'streamline-enrich', 'app.kubernetes.io/component': 'redis-user' },
        annotations: { 'streamline-enrich/redis-user': u.name, ...(u.stage ? { 'streamline-enrich/stage': u.stage } : {}) },
      },
      type: 'Opaque',
      stringData: { url: showSecrets ? u.url : redactUrl(u.url) },
    }));
  return { apiVersion: 'v1', kind: 'List', items };
}
