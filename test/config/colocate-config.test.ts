/**
 * The `process` stage key (lib/config/processes.ts) without Redis: grouping and its errors, what
 * `pipeline worker` names expand to, a process's scaling settings, and the compose service and
 * Kubernetes Deployment/ScaledObject rendered per process, with probes that check every stage.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import { processOptions, progressFileFor, stagesNamed } from '../../lib/config/processes.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { ConfigError } from '../../lib/core/errors.js';
import { composeFile, k8sManifests, progressProbeArgs } from '../../deploy/render.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
/** config/pipeline.json with every stage in a process of its own (no `process` keys). */
const RAW = ((c: PipelineConfig) => ({ ...c, stages: c.stages.map(({ process: _, ...s }) => s) }))(
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/pipeline.json'), 'utf8')) as PipelineConfig,
);
const MODELS = ['classify', 'extract.electronics', 'extract.computing', 'extract.accessories'];

/** config/pipeline.json with the model stages in process `models` (and `extra` on each of them). */
function grouped(extra: Record<string, unknown> = {}) {
  const stages = RAW.stages.map((s) => (MODELS.includes(s.name) ? { ...s, process: 'models', ...extra } : s));
  return resolveConfig({ ...RAW, stages }, 'test', { env: {} });
}

test('stages with one `process` form one worker process, in config order; others run alone; a name may be given as a stage or a process', () => {
  const c = grouped();
  assert.equal(
    c.processes.map((p) => [p.name, p.stages]),
    [
      ['preprocess', ['preprocess']],
      ['models', MODELS],
      ['validate', ['validate']],
      ['match', ['match']],
      ['store', ['store']],
    ],
  );
  assert.equal(stagesNamed(c, 'models'), MODELS);
  assert.equal(stagesNamed(c, 'store,preprocess'), ['preprocess', 'store'], 'config order');
  assert.equal(stagesNamed(c, 'extract.computing,models'), MODELS, 'no repeats');
  assert.throws(
    () => stagesNamed(c, 'nope'),
    (e: Error) => e instanceof ConfigError && /no stage or process named "nope"/.test(e.message),
  );
  const plain = resolveConfig(RAW, 'test', { env: {} });
  assert.equal(
    plain.processes.map((p) => p.stages),
    plain.stages.map((s) => [s.name]),
    'default: one process per stage',
  );
});

test('`process` errors: a bad name, and a process named after a stage that runs elsewhere', () => {
  const bad = (stages: unknown[], re: RegExp) =>
    assert.throws(
      () => resolveConfig({ ...RAW, stages }, 'test', { env: {} }),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
    );
  bad(
    RAW.stages.map((s) => (s.name === 'classify' ? { ...s, process: 'has space' } : s)),
    /stages\[1\]\.process/,
  );
  bad(
    RAW.stages.map((s) => (s.name === 'classify' ? { ...s, process: 'store' } : s.name === 'store' ? { ...s, process: 'sinks' } : s)),
    /process "store" is named after stage store, which runs in another process/,
  );
  // Named after one of its own stages, with others: `pipeline worker classify` had run the stage
  // alone where the process was meant (the shipped process was named `classify`).
  bad(
    RAW.stages.map((s) => (MODELS.includes(s.name) ? { ...s, process: 'classify' } : s)),
    /stages\[1\]\.process: process "classify" \(classify, extract\.electronics, extract\.computing, extract\.accessories\) is named after its stage classify: `pipeline worker classify` would mean the stage alone or the whole process; give the process a name that is no stage's/,
  );
  // A process of one stage named after it means the same either way.
  const ok = resolveConfig({ ...RAW, stages: RAW.stages.map((s) => (s.name === 'store' ? { ...s, process: 'store' } : s)) }, 'test', { env: {} });
  assert.equal(ok.processes.find((p) => p.name === 'store')!.stages, ['store']);
});

test('the shipped config: no process of several stages is named after a stage, and `pipeline worker <process>` runs all of its stages', () => {
  const shipped = resolveConfig(JSON.parse(readFileSync(resolve(import.meta.dirname, '../../config/pipeline.json'), 'utf8')) as PipelineConfig, 'test', {
    env: {},
  });
  const names = new Set(shipped.stages.map((s) => s.name));
  const shared = shipped.processes.filter((p) => p.stages.length > 1);
  assert.equal(
    shared.map((p) => p.name),
    ['intake', 'enrich'],
  );
  for (const p of shared) {
    assert.not.ok(names.has(p.name), `process ${p.name} is also a stage`);
    assert.equal(stagesNamed(shipped, p.name), p.stages);
  }
  assert.equal(stagesNamed(shipped, 'classify'), ['classify'], 'a stage name is the stage alone');
});

test('an unknown name lists the stages and the processes apart (classify had been listed twice, as both)', () => {
  const c = grouped();
  assert.throws(
    () => stagesNamed(c, 'clasify'),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message.endsWith(
        'no stage or process named "clasify" (stages: preprocess, classify, extract.electronics, extract.computing, extract.accessories, validate, match, store; processes: models (classify, extract.electronics, extract.computing, extract.accessories))',
      ),
    'stages and processes apart',
  );
  assert.throws(
    () => stagesNamed(resolveConfig(RAW, 'test', { env: {} }), 'nope'),
    (e: Error) => /\(stages: preprocess, [^;]*store\)$/.test(e.message),
    'no process of several stages: stages only',
  );
});

test("a process scales and drains by its stages: the largest min/max and drain, the most eager scale-up, the most patient scale-down, its busiest model stage's threads", () => {
  const stages = RAW.stages.map((s) => {
    if (s.name === 'classify') return { ...s, process: 'models', minWorkers: 1, maxWorkers: 3, scaleUpLag: 500, drainTimeoutMs: 40_000, threads: 2 };
    if (s.name === 'extract.computing') return { ...s, process: 'models', minWorkers: 2, maxWorkers: 2, scaleDownIdleMs: 90_000 };
    return MODELS.includes(s.name) ? { ...s, process: 'models' } : s;
  });
  const c = resolveConfig({ ...RAW, stages }, 'test', { env: {} });
  const o = processOptions(
    c,
    c.processes.find((p) => p.name === 'models')!,
  );
  assert.equal(o, {
    minWorkers: 2,
    maxWorkers: 3,
    scaleUpLag: 500,
    scaleUpAfterMs: 15_000,
    scaleDownIdleMs: 90_000,
    autoscaleIntervalMs: 5_000,
    drainTimeoutMs: 40_000,
    // Its busiest model stage's ONNX threads (its stages take turns on one JS thread), not their sum.
    threads: 2,
  });
});

test('compose and Kubernetes render one service / Deployment / ScaledObject per process, with every stage in its command, probes, triggers and Redis users', () => {
  const c = grouped();
  const s = composeFile(c).services as Obj;
  for (const m of MODELS) assert.not.ok(s[m.replace('.', '-')], `no service of its own for ${m}`);
  const svc = s.models;
  assert.equal(svc.command, ['worker', MODELS.join(',')]);
  assert.is(svc.deploy.replicas, '${MODELS_REPLICAS:-1}');
  for (const m of MODELS) assert.ok(`REDIS_URL_${m.toUpperCase().replace('.', '_')}` in svc.environment, m);
  assert.equal(
    svc.healthcheck.test.map((a: string) => a.replaceAll('$$', '$')),
    [
      'CMD',
      ...progressProbeArgs(
        c.stages.filter((x) => MODELS.includes(x.name)),
        false,
      ),
    ],
  );
  assert.ok(s.preprocess && s.store, 'stages without a process keep their own service');

  const docs = k8sManifests(c, JSON.stringify(RAW)) as Obj[];
  const dep = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'products-models')!;
  const ctr = dep.spec.template.spec.containers[0];
  assert.equal(ctr.args, ['worker', MODELS.join(',')]);
  assert.equal(ctr.startupProbe.exec.command.slice(3, 5), ['--stage', MODELS.join(',')]);
  const env = new Map((ctr.env as Obj[]).map((e) => [e.name, e.valueFrom?.secretKeyRef?.name]));
  assert.is(env.get('REDIS_URL'), 'products-classify-redis');
  assert.is(env.get('REDIS_URL_EXTRACT_ELECTRONICS'), 'products-extract-electronics-redis');
  const so = docs.find((d) => d.kind === 'ScaledObject' && d.metadata.name === 'products-models')!;
  assert.equal(
    so.spec.triggers.map((t: Obj) => t.metadata.consumerGroup),
    MODELS,
    'one lag trigger per stage',
  );
  assert.not.ok(
    docs.some((d) => d.kind === 'Deployment' && d.metadata.name === 'products-classify'),
    'no Deployment of its own',
  );
});

test("a process's progress probe, run by sh: live only while every stage's own file is fresh", () => {
  const c = grouped();
  const stages = c.stages.filter((x) => MODELS.includes(x.name));
  const dir = mkdtempSync(join(tmpdir(), 'probe-'));
  try {
    const base = join(dir, 'progress.json');
    const passes = () => {
      const [cmd, ...args] = progressProbeArgs(stages, false);
      return spawnSync(cmd!, args, { env: { ...process.env, PROGRESS_FILE: base } }).status === 0;
    };
    for (const m of MODELS.slice(1)) writeFileSync(progressFileFor(base, m), '{}\n');
    assert.not.ok(passes(), 'one stage has written nothing: not live');
    writeFileSync(progressFileFor(base, MODELS[0]!), '{}\n');
    assert.ok(passes(), 'every stage fresh: live');
    const old = Date.now() / 1000 - 3600;
    utimesSync(progressFileFor(base, 'extract.computing'), old, old);
    assert.not.ok(passes(), 'one stage stalled: not live, however busy the others are');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
