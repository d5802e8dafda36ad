/**
 * Every package the product runs on (the production dependency tree, as installed) supports the
 * oldest Node that our `engines` allows. npm only warns (EBADENGINE) and only against the Node it
 * runs on, so a dependency that moved to a newer Node (light-my-request 6.8 brought `cookie@2`,
 * which asks for Node 22) went unnoticed on the 20.x machines. Dev tools (ESLint 10 wants 20.19)
 * are not checked: CONTRIBUTING.md names the Node they need.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { minVersion, satisfies } from 'semver';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const REPO = resolve(import.meta.dirname, '../..');

interface Manifest {
  name: string;
  version: string;
  engines?: { node?: string };
}

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

/** The installed folders of the production dependency tree (npm's own resolution, deduplicated). */
function productionTree(): string[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return [...new Set(out.split('\n').filter((line) => line.includes('node_modules')))];
}

test('every production dependency supports the oldest Node our engines allow', () => {
  const ours = readManifest(REPO).engines?.node;
  assert.ok(ours, 'package.json names engines.node');
  const oldest = minVersion(ours)?.version;
  assert.ok(oldest, `a lowest version in ${ours}`);
  const tree = productionTree();
  assert.ok(tree.length > 50, `the production tree was listed (${tree.length} packages)`);
  const refusing = tree
    .map(readManifest)
    .filter((m) => m.engines?.node && !satisfies(oldest, m.engines.node))
    .map((m) => `${m.name}@${m.version} wants node ${m.engines?.node}`);
  assert.equal(refusing, [], `Node ${oldest} (engines ${ours})`);
});

test.run();
