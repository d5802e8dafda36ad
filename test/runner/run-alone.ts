/**
 * The test files test/runner/run.ts runs one at a time with nothing beside them, after the others (which
 * run `--jobs` at a time), each with the reason. A file belongs here when it is CPU-heavy (it
 * would slow its neighbour into a timeout) or asserts on latencies, durations or failover timings
 * that another file taking a core would stretch. A file that fails under `--jobs 2` and passes
 * alone: fix its assumption if it is wrong, else add it here with the reason. Keys are paths
 * under test/ (`topologies/cluster.test.ts`); test/runner/run.ts refuses to start when one names
 * no test file (a file moved or renamed).
 */
const CLUSTER_FAILOVER =
  'a real Redis Cluster (6 redis-servers) with cluster-node-timeout 1 s: a node kept off the CPU by a neighbour is flagged failing, a failover starts or lasts longer than the test bounds';

/**
 * The Sentinel files' SIGKILL flake (the sentinel flagging the just-promoted master down 1 s after
 * the switch, under load, and promoting the old master restarted empty) is fixed: the helper
 * restarts it with replica-priority 0 until it has synced (the Single-node failover paragraph of
 * docs/reliability.md#redis-restarts; test/topologies/sentinel-rejoin.test.ts). 12 runs of
 * sentinel-failover.test.ts beside two CPU burners and a second copy of it passed. The files stay
 * here for their timings, which a neighbour stretches.
 */
const SENTINEL_FAILOVER =
  'a real Sentinel set (sentinel down-after 1 s, failover-timeout 3 s) failed over mid-run, in place with every reader asserted off the old master within 3 s: a neighbour taking a core stretches the sentinel’s PING replies and the readers’ move past those bounds';

export const RUN_ALONE: Readonly<Record<string, string>> = {
  'scenarios/bench.test.ts': 'runs the benchmark (a quick run, CPU-bound on every core: a measure, and a minute of both cores)',
  'models/models-build.test.ts': 'trains the models twice (CPU-bound) and compares the bytes',
  'scenarios/chaos.test.ts':
    'the chaos run: 5,000 records at a paced rate through workers SIGKILLed every second and a redis-server restarted (many processes, CPU-heavy)',
  'scenarios/soak.test.ts': 'the soak run: the full model pipeline (CPU-bound inference) with a worker SIGKILLed every half second',
  'topologies/cluster.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-acl.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-api-failover.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-cli.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-failing-node.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-failover-sockets.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-liveness-handover.test.ts':
    'a real Redis Cluster (3 redis-servers) and worker processes started one after another: asserts a hand-over within aliveTtlMs + livenessHandoverMs + 3 s of a SIGKILL',
  'topologies/cluster-match-failover.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-produce-failover.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-produce-resume.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-replica-validity.test.ts': CLUSTER_FAILOVER,
  'topologies/cluster-store-frozen-master.test.ts':
    'a real Redis Cluster (3 redis-servers) with one master frozen 8 s, once per sink (Redis, PostgreSQL): asserts the other shards store within 3 s meanwhile, which a neighbour taking a core stretches',
  'topologies/sentinel-failover.test.ts': SENTINEL_FAILOVER,
  'topologies/sentinel-serve.test.ts': SENTINEL_FAILOVER,
  'api/api-enrich-deadline.test.ts': 'asserts an answer comes within 400 ms of its deadline',
  'api/api-sse-fanout.test.ts': 'a CPU-heavy completions fan-out to many subscribers, and enrich answers within 1 s of their deadline meanwhile',
  'scenarios/paced-http.test.ts': "asserts the load generator's arrival spread (900-1400 ms) and p50 latency (30-200 ms)",
  'workers/process-gauges.test.ts': 'asserts event-loop delays (under 60 / 100 ms when idle), which a busy neighbour stretches',
  'workers/stage-deadline.test.ts': 'asserts watchdog markers expire within 200 ms of when they are due',
};
