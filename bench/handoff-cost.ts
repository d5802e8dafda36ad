/**
 * `npm run bench:handoff`: what one message's hand-off costs Redis, by form. Reads batches of
 * `--batch` entries (default 64) of ~400 bytes into one consumer, then hands them off to a second
 * stream and measures Redis CPU (INFO cpu, user + sys) and client CPU per message for:
 *   fenced     the project's hand-off as a consumer runs it (lib/lua/handoff-N.lua via handOff(), one
 *              call per batch) when the group's claim fence is unchanged since the read: one XACK
 *              for the batch, then the XADDs; never forwards twice
 *   checked    the same script when the fence moved (a claim happened): XACK each id, XADD only if
 *              that XACK removed it
 *   pipeline   the transport baseline's XADD per message + one XACK, pipelined (no atomicity)
 *   multi      the same commands in MULTI/EXEC: atomic, but forwards again what another
 *              consumer already acked (at-least-once)
 * Forms alternate over `--runs` rounds (default 3); medians are printed. Own redis-server.
 */
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import { handOff } from '../lib/stream/handoff.js';
import { readGroupEntries } from '../lib/stream/entries.js';
import { RedisServer } from '../lib/redis/server.js';
import { median } from './stats.js';

const count = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expects a whole number >= 1');
  return n;
};
const o = new Command('bench-handoff')
  .description("what one message's hand-off costs Redis and the client, by form (fenced, checked, pipeline, multi); own redis-server")
  .option('--batch <n>', 'entries per read and hand-off', count, 64)
  .option('--runs <n>', 'rounds; the forms alternate and medians are printed', count, 3)
  .parse()
  .opts<{ batch: number; runs: number }>();
const { batch, runs } = o;
const batches = Math.ceil(25_600 / batch);
const FORMS = ['fenced', 'checked', 'pipeline', 'multi'] as const;
type Form = (typeof FORMS)[number];

const server = await new RedisServer().start();
const redis = new Redis(server.url);
const body = Buffer.alloc(400, 0x61);

const redisCpu = async () => {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)![1]);
  return field('used_cpu_user') + field('used_cpu_sys');
};

/** A fresh source stream with `batches` x `batch` entries, all read by consumer c1: the id lists. */
async function pendingBatches(src: string): Promise<string[][]> {
  await redis.del(src, 'dst');
  await redis.xgroup('CREATE', src, 'g', '0', 'MKSTREAM');
  for (let i = 0; i < batches; i++) {
    const p = redis.pipeline();
    for (let j = 0; j < batch; j++) p.xadd(src, '*', 'k', `key${j}`, 'e', body);
    await p.exec();
  }
  const out: string[][] = [];
  for (let i = 0; i < batches; i++) {
    out.push(readGroupEntries(await redis.callBuffer('XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', batch, 'STREAMS', src, '>')).map((e) => e.id));
  }
  return out;
}

async function handOffAs(form: Form, src: string, ids: string[]): Promise<void> {
  if (form === 'fenced' || form === 'checked') {
    // No claim ever bumps this fence: '0' is current (fenced); '' asks for the per-message check.
    const forwards = ids.map((id) => ({ id, targets: ['dst'], fields: ['k', 'key', 'e', body] }));
    const r = await handOff(redis, { stream: src, group: 'g', fenceKey: `${src}:fence` }, forwards, form === 'fenced' ? '0' : '');
    if (r.acked.some((a) => !a)) throw new Error(`${form}: a pending entry was not forwarded`);
    return;
  }
  const p = form === 'multi' ? redis.multi() : redis.pipeline();
  if (form === 'multi') p.xack(src, 'g', ...ids);
  for (let i = 0; i < ids.length; i++) p.xadd('dst', '*', 'k', 'key', 'e', body);
  if (form === 'pipeline') p.xack(src, 'g', ...ids);
  await p.exec();
}

const results = new Map<Form, { redis: number[]; client: number[] }>(FORMS.map((f) => [f, { redis: [], client: [] }]));
try {
  for (let run = 0; run < runs; run++) {
    for (const form of FORMS) {
      const src = `src-${form}-${run}`;
      const work = await pendingBatches(src);
      const cpu0 = await redisCpu();
      const client0 = process.cpuUsage();
      for (const ids of work) await handOffAs(form, src, ids);
      const client = process.cpuUsage(client0);
      const n = batches * batch;
      results.get(form)!.redis.push((((await redisCpu()) - cpu0) * 1e6) / n);
      results.get(form)!.client.push((client.user + client.system) / n);
      if (Number((await redis.xpending(src, 'g'))[0]) !== 0) throw new Error(`${form}: entries left pending`);
      await redis.del(src, 'dst');
    }
  }
  console.log(`hand-off cost per message, batch ${batch}, ${batches * batch} messages x ${runs} runs (medians; Redis CPU includes its network I/O)`);
  console.log('form        redis us/msg  client us/msg');
  for (const [form, r] of results) console.log(`${form.padEnd(10)} ${median(r.redis)!.toFixed(2).padStart(13)} ${median(r.client)!.toFixed(2).padStart(14)}`);
} finally {
  redis.disconnect();
  await server.close();
}
