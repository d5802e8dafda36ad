/**
 * Redis's own account of a failover, read from the test cluster's redis-server logs: what a
 * promotion timeout shows, so a run that failed under load says why (a replica's `Currently unable
 * to failover: <reason>`, the FAIL quorum, the votes) rather than only that it waited.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisServer } from '../../lib/redis/server.js';

/** The log lines of a failover: failure detection, election, votes and a replica's refusal. */
const FAILOVER_LINE =
  /Currently unable to failover|election|Failover auth|as failing|FAIL message|FAIL state|Connection with master lost|Cluster state changed/;

/** Lines kept per node (its last ones). */
const LINES_PER_NODE = 8;

/** Per node (`port:`), its last failover lines; "(no log)" when its log is gone. */
export function failoverLog(servers: ReadonlyMap<number, RedisServer>): string {
  return [...servers]
    .map(([port, server]) => {
      const file = join(server.dir, 'redis-server.log');
      if (!existsSync(file)) return `${port}: (no log)`;
      const lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => FAILOVER_LINE.test(l))
        .slice(-LINES_PER_NODE);
      return [`${port}:`, ...lines.map((l) => `  ${l}`)].join('\n');
    })
    .join('\n');
}
