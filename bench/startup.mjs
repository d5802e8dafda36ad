#!/usr/bin/env node
/**
 * Start time and memory of the CLI through tsx (scripts/pipeline.mjs) vs compiled (dist/scripts/cli.js),
 * runs alternating, medians reported (docs/development.md "Sources in development, compiled JavaScript in production"). Needs `npm run build` first.
 *
 *   node bench/startup.mjs [--runs 7] [--stages preprocess,classify]
 *
 * Per form: `pipeline --help` wall time and peak RSS (/usr/bin/time -v); per stage, a worker on a
 * local redis-server from spawn to its `worker.started` log line (models loaded; the first read
 * follows at once) and its RSS (VmRSS) then.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, stages: { type: 'string', default: 'preprocess,classify' } } });
const runs = Number(values.runs);
const stages = values.stages.split(',').filter(Boolean);
const FORMS = { tsx: [resolve(root, 'scripts/pipeline.mjs')], compiled: [resolve(root, 'dist/scripts/cli.js')] };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function helpRun(entry) {
  const err = spawnSync('/usr/bin/time', ['-v', process.execPath, ...entry, '--help'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] }).stderr;
  const wall = /Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+(?:\.\d+)?)/.exec(err);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
  return { ms: (Number(wall[1] ?? 0) * 60 + Number(wall[2])) * 1000, rssMb: Number(rss[1]) / 1024 };
}

async function startRedis() {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
      return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill() };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('redis-server did not start');
}

function workerRun(entry, stage, url) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...entry, 'worker', stage], {
      env: { ...process.env, REDIS_URL: url, LOG_LEVEL: 'info', PIPELINE: `st${Date.now()}` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), rej(new Error(`${stage}: no worker.started in 120 s`))), 120_000);
    child.stdout.on('data', (d) => {
      buf += d;
      if (!buf.includes('"worker.started"')) return;
      const ms = performance.now() - t0;
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]);
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      child.kill('SIGTERM');
      child.once('exit', () => res({ ms, rssMb: rssKb / 1024 }));
    });
  });
}

const results = {};
const add = (key, r) => ((results[key] ??= { ms: [], rssMb: [] }).ms.push(r.ms), results[key].rssMb.push(r.rssMb));
const redis = await startRedis();
try {
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['tsx', 'compiled'] : ['compiled', 'tsx'];
    for (const form of order) add(`${form} --help`, helpRun(FORMS[form]));
    for (const stage of stages) for (const form of order) add(`${form} worker ${stage}`, await workerRun(FORMS[form], stage, redis.url));
    process.stderr.write(`run ${i + 1}/${runs} done\n`);
  }
} finally {
  redis.stop();
}
process.stdout.write(`| what | median ms | median RSS MB | runs |\n|---|---|---|---|\n`);
for (const [k, v] of Object.entries(results)) process.stdout.write(`| ${k} | ${median(v.ms).toFixed(0)} | ${median(v.rssMb).toFixed(0)} | ${v.ms.length} |\n`);
