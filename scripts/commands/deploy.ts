import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../../lib/config/load.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { KIND_CHECKS } from '../../stages/kinds.js';
import { modelFolderErrors } from '../../stages/domain/model-options.js';
import { REPO, type GlobalOptions } from './common.js';

/**
 * `pipeline deploy render [--check]`: write deploy/docker-compose.yml, deploy/k8s/pipeline.yaml,
 * deploy/k8s/stage-secrets.yaml, deploy/statsd/mapping.yml, the alerting rules (deploy/prometheus/alerts.yml,
 * deploy/k8s/prometheus-rules.yaml) and deploy/k8s/cluster/{pipeline,stage-secrets}.yaml from the config (env overrides ignored, so the output is the same on
 * every machine). `--check` writes nothing and exits 1 if a committed file differs. A stage's `model`
 * that is no model folder under models/ (remote loading off) is refused first, as `pipeline up` refuses it.
 */
export async function deployRenderCommand(opts: GlobalOptions & { check?: boolean }): Promise<void> {
  // A development tool (deploy/render.ts needs the devDependency yaml): not part of the compiled
  // build, so its module is named in a variable that tsc -p tsconfig.build.json does not follow.
  if (!import.meta.url.endsWith('.ts')) throw new Error('deploy render is a development tool: run it from the sources, `npm run dev -- deploy render`');
  const renderModule = '../../deploy/render.js';
  const clusterModule = '../../deploy/k8s/cluster/render.js';
  let render: { renderDeploy(config: ResolvedConfig, rawConfig: string, source?: string): Map<string, string> };
  let cluster: { renderClusterFiles(config: ResolvedConfig, rawConfig: string, shards?: number, source?: string): Map<string, string> };
  try {
    render = (await import(renderModule)) as typeof render;
    cluster = (await import(clusterModule)) as typeof cluster;
  } catch (err) {
    throw new Error(`deploy render needs a source checkout with devDependencies (npm ci): ${(err as Error).message}`, { cause: err });
  }
  const path = resolve(opts.config ?? process.env.PIPELINE_CONFIG ?? DEFAULT_CONFIG_PATH);
  const raw = readFileSync(path, 'utf8');
  const config = loadConfigFile(path, { env: {}, ...KIND_CHECKS });
  // Files for a stage whose model no worker can load (a misspelt name) would only crash-loop where they are deployed: refused as `up` refuses it.
  const [modelError] = modelFolderErrors(config, {});
  if (modelError) throw modelError;
  // The Redis Cluster variant (deploy/k8s/cluster/, for the shard count it was rendered for) is rendered from the config too.
  const source = relative(REPO, path);
  const files = new Map([...render.renderDeploy(config, raw, source), ...cluster.renderClusterFiles(config, raw, undefined, source)]);
  const stale: string[] = [];
  for (const [file, text] of files) {
    const abs = resolve(REPO, file);
    let current: string | undefined;
    try {
      current = readFileSync(abs, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    stale.push(file);
    if (!opts.check) {
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, text);
    }
  }
  if (opts.check) {
    if (stale.length) {
      process.stderr.write(`out of date with ${relative(REPO, path)}: ${stale.join(', ')}\nrun: npm run dev -- deploy render\n`);
      process.exitCode = 1;
    } else process.stdout.write('deploy files are up to date\n');
    return;
  }
  process.stdout.write(stale.length ? `wrote ${stale.join(', ')}\n` : 'deploy files are up to date\n');
}
