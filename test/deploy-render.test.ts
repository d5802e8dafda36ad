/**
 * `pipeline deploy render`, the one command CONTRIBUTING.md says to run after changing the config,
 * renders every file generated from it: the Redis Cluster variant in deploy/k8s/cluster/ too. It
 * had been left behind (`npx tsx deploy/k8s/cluster/render.ts`, named in no contributor's page),
 * so a new stage passed `deploy render --check` and then failed test/deploy-api-user.test.ts with
 * "cluster files out of date".
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '..');
const CLUSTER_FILES = ['deploy/k8s/cluster/pipeline.yaml', 'deploy/k8s/cluster/stage-secrets.yaml'];

/** `pipeline deploy render --check` from the sources, with this config. */
function renderCheck(configPath: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, ['scripts/pipeline.mjs', '--config', configPath, 'deploy', 'render', '--check'], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('deploy render --check: the committed files, the cluster ones included, are up to date with config/pipeline.json', () => {
  const r = renderCheck(join(REPO, 'config/pipeline.json'));
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /deploy files are up to date/);
});

test('deploy render --check names the cluster files too when the config changes (a stage whose Secret and KEDA triggers they hold)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-render-'));
  try {
    const config = JSON.parse(readFileSync(join(REPO, 'config/pipeline.json'), 'utf8')) as {
      pipeline: string;
      stages: { name: string; scaleUpLag?: number }[];
    };
    // Another scaleUpLag changes the KEDA triggers (cluster pipeline.yaml); another pipeline name, every user and Secret.
    config.pipeline = 'renamed';
    config.stages[0]!.scaleUpLag = 777;
    const file = join(dir, 'pipeline.json');
    writeFileSync(file, JSON.stringify(config));
    const r = renderCheck(file);
    assert.is(r.status, 1, r.output);
    for (const f of ['deploy/k8s/pipeline.yaml', ...CLUSTER_FILES]) assert.ok(r.output.includes(f), `${f} named as out of date: ${r.output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
