import { connect as netConnect } from 'node:net';
import {
  AclNodesUnreachableError,
  ClusterNodeError,
  FileError,
  FunctionsMissingError,
  PermissionError,
  ProducerGapError,
  ReplicationError,
  RunInputMismatchError,
} from '../core/errors.js';
import { isPlainPingAnswer, isReplyText, isServerReply } from '../core/redis-replies.js';

/**
 * Why a command could not reach Redis or was refused, for a person: the cause class, one line
 * naming it and the setting to look at, and the CLI's exit code for it (docs/cli.md). Classified
 * here, in one place (the Redis replies among them recognised by lib/core/redis-replies.ts), from
 * the command's error and the last connection error the client emitted
 * (ioredis reports a refused connection as a connection error event, and the command then fails
 * with "Reached the max retries per request limit" or "Connection is closed").
 */
export type RedisFailureCause = 'unreachable' | 'maxclients' | 'auth' | 'noperm' | 'tls' | 'oom' | 'unavailable' | 'functions' | 'database' | 'cluster';

export interface RedisFailure {
  cause: RedisFailureCause;
  /** The process exit code for this cause (docs/cli.md "When Redis cannot be reached or refuses"). */
  exitCode: number;
  /** One line: what happened and what to look at. */
  line: string;
  /** True when waiting and retrying can fix it (produce's --retry-for). */
  retryable: boolean;
}

export const EXIT_CODES: Record<RedisFailureCause, number> = {
  unreachable: 10,
  maxclients: 11,
  auth: 12,
  noperm: 13,
  tls: 14,
  oom: 15,
  unavailable: 16,
  functions: 17,
  database: 18,
  cluster: 19,
};

/** Whether a message is the reply `kind` (lib/core/redis-replies.ts: anchored at the reply's code, also inside ioredis' wrappings). */
const reply = (kind: Parameters<typeof isReplyText>[0]) => (text: string) => isReplyText(kind, text);

/**
 * The causes in order. `reply`: a Redis reply, recognised by lib/core/redis-replies.ts; the others
 * are the client's and the socket's own errors (TLS, connect), never read from a server's reply
 * (a reply quoting "certificate" came over a connection that worked).
 */
const RULES: { cause: RedisFailureCause; test: (text: string) => boolean; reply?: true; hint: string; retryable: boolean }[] = [
  {
    cause: 'maxclients',
    test: reply('maxClients'),
    reply: true,
    retryable: true,
    hint: 'Redis refused the connection: max number of clients reached (server setting `maxclients`; see who holds connections with CLIENT LIST, each worker process holds readers + 1)',
  },
  {
    cause: 'auth',
    test: reply('auth'),
    reply: true,
    retryable: false,
    hint: 'Redis refused the credentials (WRONGPASS/NOAUTH): check the user and password in `REDIS_URL` (or REDIS_URL_<STAGE>; `pipeline acl --apply --write-env FILE` writes them)',
  },
  {
    cause: 'noperm',
    test: reply('noPermission'),
    reply: true,
    retryable: false,
    hint: "Redis refused a command for this user's ACL (NOPERM): run `pipeline acl --apply` as an admin after changing stages or routes, and use the right user's URL in `REDIS_URL`",
  },
  {
    cause: 'oom',
    test: reply('oom'),
    reply: true,
    retryable: true,
    hint: "Redis is full: OOM command not allowed when used memory > 'maxmemory' (server setting `maxmemory`; raise it, or free memory (trim the DLQ, export and delete stored products): nothing is lost, writes wait)",
  },
  {
    // MISCONF: the server is up and answers reads; an outage like the other refusals (exit 16), its own line for what to do.
    cause: 'unavailable',
    test: reply('misconf'),
    reply: true,
    retryable: true,
    hint: 'Redis cannot persist to disk (MISCONF: its last RDB save or AOF write failed, e.g. a full disk or a read-only volume) and refuses every write until a save succeeds: free the disk (the Redis log names the error), then `BGSAVE`; nothing is lost, writes wait',
  },
  {
    cause: 'tls',
    test: (text) => /certificate|self[- ]signed|SSL|TLS|EPROTO|wrong version number|ERR_TLS|unable to verify|CERT_/i.test(text),
    retryable: false,
    hint: 'TLS failed: use `rediss://` in `REDIS_URL` for a TLS server and `redis://` for a plain one; check the server certificate and its CA',
  },
  {
    cause: 'unavailable',
    // The replies only: a Cluster client out of redirections is what its last error is (CLUSTERDOWN here, a closed connection below).
    test: reply('notServing'),
    reply: true,
    retryable: true,
    hint: 'Redis is up but not serving writes yet (loading its data, a failover or a busy script): retry in a moment',
  },
  {
    cause: 'database',
    test: reply('dbOutOfRange'),
    reply: true,
    retryable: false,
    hint: "Redis has no such database: the number after the port in `REDIS_URL` is past the server's `databases` setting (16 unless set)",
  },
  {
    // ioredis Sentinel mode, after a round over every sentinel of a redis+sentinel:// URL: none
    // answered, or none knew the master's name (it says "unreachable" for both).
    cause: 'unreachable',
    test: (text) => /All sentinels are unreachable/.test(text),
    retryable: true,
    hint: 'cannot reach Redis through Sentinel: no answer from the address in `REDIS_URL` giving the address of a master by that name (are the sentinels up, their host:port right, and is the name after them one they monitor? `SENTINEL MASTERS` on a sentinel lists the names)',
  },
  {
    cause: 'unreachable',
    test: (text) =>
      /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|connect ETIMEDOUT|Connection is closed|ECONNRESET|EPIPE|Stream isn't writeable|Reached the max retries per request|Command timed out|Failed to refresh slots cache|None of startup nodes is available/i.test(
        text,
      ),
    retryable: true,
    hint: 'cannot reach Redis: nothing answers at the address in `REDIS_URL` (is redis-server running, host and port right, a firewall?)',
  },
];

/** An error of a file operation (open, read, stat: it carries the path), not of a socket. */
const isFileSystemError = (err: unknown) =>
  err instanceof Error && typeof (err as { path?: unknown }).path === 'string' && (err as { syscall?: unknown }).syscall !== 'connect';

const messageOf = (err: unknown) => (err instanceof Error ? `${err.message} ${(err as { code?: string }).code ?? ''}` : String(err ?? ''));

/** A Redis Cluster node that does not answer while the other nodes do (ioredis' `node error` names it). */
export interface FailingNode {
  /** host:port */
  address: string;
  /** True when the client's slot map has it as a master. */
  master: boolean;
}

/** The unreachable line: at `where` (the URL's address or seeds), or naming the one Cluster node that does not answer. */
function unreachableLine(hint: string, where: string | undefined, node: FailingNode | undefined): string {
  if (node)
    return `cannot reach Redis: the ${node.master ? 'master' : 'node'} ${node.address} does not answer, the other nodes of the cluster at ${where ?? 'the address in `REDIS_URL`'} (\`REDIS_URL\`) answer: a failover? (it ends when a replica of it is promoted, after \`cluster-node-timeout\`; with none, start that redis-server again)`;
  return where ? hint.replace('the address in `REDIS_URL`', `${where} (\`REDIS_URL\`)`) : hint;
}

/**
 * The failure behind `err` (and the client's last connection error), or undefined when it is not
 * a Redis reachability or refusal problem (a bad record, a config error, a bug).
 * `where` (e.g. "127.0.0.1:6379") is added to the unreachable line; `node`, a Cluster node that
 * failed while the others answer, is named there instead (the seeds are not what to check then).
 */
export function diagnoseRedisError(err: unknown, lastConnectionError?: unknown, where?: string, node?: FailingNode): RedisFailure | undefined {
  // A file's error names its path, which may hold any word ("ssl-certs.jsonl", "LOADING/x.jsonl"): never a Redis failure.
  if (err instanceof FileError || isFileSystemError(err)) return undefined;
  // The producer's own findings (records Redis lost, another input) say more than the connection
  // error of the outage that caused them ("cannot reach Redis", exit 10, had replaced the loss).
  if (err instanceof ProducerGapError || err instanceof RunInputMismatchError) return undefined;
  if (err instanceof FunctionsMissingError) return { cause: 'functions', exitCode: EXIT_CODES.functions, line: err.message, retryable: true };
  // A refusal already explained (user, command, keys, fix): its own line.
  if (err instanceof PermissionError) return { cause: 'noperm', exitCode: EXIT_CODES.noperm, line: err.message, retryable: false };
  // Too few replicas acknowledged a batch (produce --wait-replicas): says more than the connection
  // error a failover left behind (the dead master's ECONNREFUSED had made it "cannot reach Redis", exit 10).
  if (err instanceof ReplicationError) return { cause: 'unavailable', exitCode: EXIT_CODES.unavailable, line: err.message, retryable: true };
  // acl --apply reached some Cluster nodes and not others: its own line names both (the seeds answered).
  if (err instanceof AclNodesUnreachableError) return { cause: 'unreachable', exitCode: EXIT_CODES.unreachable, line: err.message, retryable: true };
  // A redis:// URL at a Cluster node (lib/redis/cluster-node.ts): the URL must change, waiting cannot help.
  if (err instanceof ClusterNodeError) return { cause: 'cluster', exitCode: EXIT_CODES.cluster, line: err.message, retryable: false };
  // A refusal in the connection error says more than the command's "max retries" or "closed".
  const candidates = [messageOf(lastConnectionError), messageOf(err)];
  for (const rule of RULES) {
    // A server's reply is only the reply it is: its text may quote anything (a script's error about a record).
    const own = (rule.reply || !isServerReply(err)) && rule.test(messageOf(err));
    const conn = (rule.reply || !isServerReply(lastConnectionError)) && rule.test(candidates[0]!);
    if (!own && !conn) continue;
    // The command's own server reply (OOM, NOPERM) wins over an old connection error.
    const line = rule.cause === 'unreachable' ? unreachableLine(rule.hint, where, node) : rule.hint;
    return {
      cause: rule.cause,
      exitCode: EXIT_CODES[rule.cause],
      line: `${line} [${(own ? messageOf(err) : candidates[0]!).trim()}]`,
      retryable: rule.retryable,
    };
  }
  return undefined;
}

/**
 * What a raw TCP connection to `host:port` meets within `timeoutMs`: the server's greeting refusal
 * (at `maxclients` Redis answers a new connection with `-ERR max number of clients reached` and
 * closes it, before any command, which ioredis reports only as a closed connection), a refused
 * or failed connect, or an open connection that says nothing (a server that is up).
 */
export function probeRedis(
  host: string,
  port: number,
  timeoutMs = 1_000,
  ping = false,
): Promise<{ state: 'refused-greeting' | 'connect-failed' | 'open'; message: string }> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    // `ping`: say PING in plain RESP, so a plain Redis answers (+PONG, or -NOAUTH with a password set).
    if (ping) socket.once('connect', () => socket.write('PING\r\n'));
    const done = (state: 'refused-greeting' | 'connect-failed' | 'open', message: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ state, message });
    };
    const timer = setTimeout(() => done('open', ''), timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => done('connect-failed', `${err.message}`));
    socket.once('data', (d: Buffer) => {
      const text = d.toString('latin1');
      done(text.startsWith('-') ? 'refused-greeting' : 'open', text.replace(/^-|\r?\n.*$/gs, ''));
    });
  });
}

/**
 * `diagnoseRedisError`, and when that says only "unreachable" (ioredis saw a closed connection),
 * a probe of `probeAt` (the failing Cluster node's address, when `node` is given) to tell a refusal at connect (maxclients) from a server that is not there.
 */
export async function diagnoseWithProbe(
  err: unknown,
  lastConnectionError: unknown,
  probeAt: { host: string; port: number; tls?: boolean } | undefined,
  where?: string,
  node?: FailingNode,
): Promise<RedisFailure | undefined> {
  const d = diagnoseRedisError(err, lastConnectionError, where, node);
  if (d?.cause !== 'unreachable' || !probeAt) return d;
  // A TLS client at a plain Redis sees only a closed connection (after ~40 s of handshakes): ask in
  // plain RESP, and a Redis that answers is the mismatch (it had been "nothing answers").
  if (probeAt.tls) return (await plainRedisAt(probeAt.host, probeAt.port)) ?? d;
  const p = await probeRedis(probeAt.host, probeAt.port, 1_000);
  if (p.state === 'refused-greeting') return diagnoseRedisError(new Error(p.message), undefined, where, node) ?? d;
  return d;
}

/**
 * For a `rediss://` URL: the TLS failure when a plain (non-TLS) Redis answers a plain PING at
 * `host:port` within `timeoutMs`, else undefined (a TLS server does not answer plain RESP). A TLS
 * client there would wait through connect timeouts (~40 s) before it failed.
 */
export async function plainRedisAt(host: string, port: number, timeoutMs = 1_000): Promise<RedisFailure | undefined> {
  const p = await probeRedis(host, port, timeoutMs, true);
  if (p.state === 'connect-failed' || !isPlainPingAnswer(p.message)) return undefined;
  return {
    cause: 'tls',
    exitCode: EXIT_CODES.tls,
    line: `TLS failed: a plain (non-TLS) Redis answers at ${host}:${port}; use \`redis://\` in \`REDIS_URL\` for it (\`rediss://\` is for a TLS server) [plain PING answered: ${p.message}]`,
    retryable: false,
  };
}
