import { chmodSync, writeFileSync } from 'node:fs';
import { aclUsers, applyAcl, formatSetUser, type AclUser } from '../../lib/ops/acl.js';
import { stageDataAccess } from '../../stages/access.js';
import { cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface AclCliOptions extends GlobalOptions {
  /** Take each user's password from env REDIS_PASSWORD_<STAGE> / REDIS_PASSWORD_PRODUCER / REDIS_PASSWORD_OBSERVER. */
  passwordFromEnv?: boolean;
  /** acl (ACL SETUSER lines for redis-cli), env (REDIS_URL_<STAGE>=... lines), json. @defaultValue acl, or env with --apply */
  format?: string;
  /** Run the rules against REDIS_URL (a user allowed to run ACL SETUSER). */
  apply?: boolean;
  /** Also write the users' URLs as an env file (mode 0600). */
  writeEnv?: string;
  /** URL whose scheme/host/port/db the printed URLs use. @defaultValue REDIS_URL / redis.url */
  urlBase?: string;
  /** User name prefix. @defaultValue "<pipeline>-" */
  prefix?: string;
}

/** The env var holding a user's password under --password-from-env. */
export function passwordEnv(u: { role: string; stage?: string }): string {
  return `REDIS_PASSWORD_${(u.stage ?? u.role).toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export function envLines(users: readonly AclUser[]): string {
  const lines = ['# Redis users for this pipeline (pipeline acl). Stages: `pipeline up` reads REDIS_URL_<STAGE>.'];
  for (const u of users) {
    lines.push(`# ${u.name}: ${u.summary}`);
    if (u.role !== 'stage') lines.push(`# run \`pipeline ${u.role === 'producer' ? 'produce' : 'status'}\` with REDIS_URL=$${u.env}`);
    lines.push(`${u.env}=${u.url}`);
  }
  return lines.join('\n') + '\n';
}

/** `pipeline acl`: print (or apply) least-privilege ACL users for every stage, the producer and an observer. */
export async function aclCommand(opts: AclCliOptions): Promise<void> {
  const config = loadConfig(opts);
  const users = aclUsers(config, {
    baseUrl: opts.urlBase ?? config.redis.url,
    prefix: opts.prefix,
    dataAccess: stageDataAccess,
    password: opts.passwordFromEnv
      ? (u) => {
          const name = passwordEnv(u);
          const pw = process.env[name];
          if (!pw) throw new Error(`--password-from-env: ${name} is not set (password of ${u.name})`);
          return pw;
        }
      : undefined,
  });
  const format = opts.format ?? (opts.apply ? 'env' : 'acl');
  if (!['acl', 'env', 'json'].includes(format)) throw new Error(`--format: expected acl, env or json, got ${format}`);

  if (opts.apply) {
    const admin = cliRedis(config.redis.url);
    try {
      const servers = await applyAcl(admin, users);
      process.stderr.write(`applied ${users.length} ACL users to ${servers} server(s) of ${new URL(config.redis.url).host}\n`);
    } finally {
      admin.disconnect();
    }
  }
  if (opts.writeEnv) {
    writeFileSync(opts.writeEnv, envLines(users), { mode: 0o600 });
    chmodSync(opts.writeEnv, 0o600); // also when the file already existed
  }

  if (format === 'acl') process.stdout.write(users.map(formatSetUser).join('\n') + '\n');
  else if (format === 'env') process.stdout.write(envLines(users));
  else process.stdout.write(JSON.stringify(users.map((u) => ({ name: u.name, role: u.role, stage: u.stage, env: u.env, url: u.url, summary: u.summary, setuser: ['ACL', 'SETUSER', u.name, ...u.rules] })), null, 2) + '\n');

  if (format === 'acl' && !opts.passwordFromEnv && !opts.writeEnv) {
    process.stderr.write('note: passwords were generated and appear above only as hashes; use --write-env FILE, --format json or --password-from-env to keep them\n');
  }
}
