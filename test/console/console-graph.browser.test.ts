/**
 * The pipeline view's graph in a real browser (Debian's headless Chromium through playwright-core),
 * checked from the SVG's own geometry: no edge is drawn through a box other than its two ends.
 * The classify → review edge of the shipped config had been drawn straight through the extract and
 * validate boxes (an edge that skips columns was one curve from end to end).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { launchBrowser, signedIn } from '../helpers/browser.js';
import { ADMIN, reviewConfig, startConsole } from '../helpers/console.js';

const { server } = await redisForFile(test);
const browser: Browser = await launchBrowser();

/** Path length between two points sampled on an edge, in SVG units. */
const STEP = 1;
/** How close an edge may come to a box that is not one of its ends, in SVG units. */
const CLEARANCE = 2;

/** A config file of this repository under a random pipeline name. */
function shipped(file: string): ResolvedConfig {
  const path = resolve(import.meta.dirname, '../../config', file);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as PipelineConfig;
  return resolveConfig({ ...raw, pipeline: randomPipeline('g') }, path, { env: { REDIS_URL: server.url } });
}

/** Edges that skip one, two and three columns past boxes of every row, fan-out, and two terminal streams. */
function skipping(): ResolvedConfig {
  const stage = (name: string, kind = 'validate') => ({ name, kind });
  const raw: PipelineConfig = {
    pipeline: randomPipeline('g'),
    input: 'in',
    streams: { terminal: ['review', 'hold'] },
    stages: [
      { name: 'p0', kind: 'preprocess', input: 'in' },
      stage('a1'),
      stage('a2'),
      stage('a3'),
      stage('b1'),
      stage('b2'),
      stage('c'),
      { name: 'store', kind: 'store', settings: { sink: 'redis' } },
    ],
    routes: {
      p0: [
        { when: { mpn: { exists: true } }, to: ['a1', 'review'] },
        { when: { gtin: { exists: true } }, to: 'a2' },
        { when: { brand: { exists: true } }, to: 'hold' },
        { when: { title: { exists: true } }, to: 'store' },
        { to: 'a3' },
      ],
      a1: [{ when: { gtin: { exists: true } }, to: 'store' }, { to: 'b1' }],
      a2: [{ to: 'b1' }],
      a3: [{ when: { brand: { exists: true } }, to: 'c' }, { to: 'b2' }],
      b1: [{ to: 'c' }],
      b2: [{ when: { mpn: { exists: true } }, to: 'hold' }, { to: 'c' }],
      c: [{ when: { mpn: { exists: true } }, to: 'review' }, { to: 'store' }],
    },
  };
  return resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } });
}

interface Hit {
  edge: string;
  box: string;
  at: [number, number];
}

/**
 * Every edge path sampled every STEP along its length (SVGPathElement.getPointAtLength, in the
 * SVG's user units) against every node's rect (its group's translate plus the rect's size): a
 * point within CLEARANCE of a box that is not an end of the edge, or inside one of its ends, is a hit.
 */
async function edgeHits(page: Page): Promise<{ edges: number; nodes: number; hits: Hit[] }> {
  const boxes = await page.$$eval('#graph svg g.node', (gs) =>
    gs.map((g) => {
      const r = g.querySelector('rect')!;
      return {
        id: g.getAttribute('data-stage')!,
        transform: g.getAttribute('transform') ?? '',
        w: Number(r.getAttribute('width')),
        h: Number(r.getAttribute('height')),
      };
    }),
  );
  const at = boxes.map((b) => {
    const m = /translate\(\s*([-\d.]+)[ ,]+([-\d.]+)\s*\)/.exec(b.transform);
    assert.ok(m, `${b.id}: ${b.transform}`);
    return { ...b, x: Number(m[1]), y: Number(m[2]) };
  });
  const paths = await page.$$eval(
    '#graph svg path.edge',
    (ps, step) =>
      ps.map((p) => {
        const path = p as unknown as { getTotalLength(): number; getPointAtLength(l: number): { x: number; y: number } };
        const points: [number, number][] = [];
        for (let l = 0, len = path.getTotalLength(); l <= len; l += step) {
          const { x, y } = path.getPointAtLength(l);
          points.push([x, y]);
        }
        return { title: p.querySelector('title')?.textContent ?? '', points };
      }),
    STEP,
  );
  const hits: Hit[] = [];
  for (const p of paths) {
    // Its ends, as its tooltip names them: "<from> → <to> (rule …)".
    const [from, to] = p.title.replace(/ \(rule .*$/s, '').split(' → ');
    for (const [x, y] of p.points)
      for (const b of at) {
        // An end may be touched at its border (where the edge leaves or arrives), not crossed.
        const m = b.id === from || b.id === to ? -1 : CLEARANCE;
        if (x > b.x - m && x < b.x + b.w + m && y > b.y - m && y < b.y + b.h + m) {
          hits.push({ edge: `${from} → ${to}`, box: b.id, at: [Math.round(x), Math.round(y)] });
          break;
        }
      }
  }
  return { edges: paths.length, nodes: boxes.length, hits };
}

const cases: [string, () => ResolvedConfig][] = [
  ['the shipped config/pipeline.json (classify → review skips the extract and validate columns)', () => shipped('pipeline.json')],
  ['config/rules-only.json', () => shipped('rules-only.json')],
  ['the review pipeline of the console tests', () => reviewConfig(server.url, randomPipeline('g'))],
  ['edges skipping one to three columns, fan-out, two terminal streams', skipping],
];

for (const [name, make] of cases) {
  test(`graph of ${name}: no edge crosses a box other than its ends`, async () => {
    const config = make();
    const { app, url } = await startConsole(config, { sampleIntervalMs: 60_000 });
    try {
      const { page, errors } = await signedIn(browser, url, ADMIN, 'pipeline');
      await page.waitForSelector('#graph svg g.node');
      const edgesOf = (await (await fetch(`${url}/console/api/graph`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { edges: unknown[] };
      const { edges, nodes, hits } = await edgeHits(page);
      assert.is(nodes, new Set([...config.stages.map((s) => s.name), ...config.streams.terminal]).size, 'every stage and terminal stream drawn');
      assert.is(edges, edgesOf.edges.length, 'every edge drawn');
      assert.equal(hits.slice(0, 5), [], `${hits.length} sampled points of edges inside boxes`);
      assert.equal(errors, []);
      await page.close();
    } finally {
      await app.close();
    }
  });
}

test.after(async () => {
  await browser.close();
});
test.run();
