import type { ServerResponse } from 'node:http';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { parseCompletion, type CompletionEvent } from './completions.js';
import { assertRedisReady } from './errors.js';
import { compareIds } from './status.js';

const ID_RE = /^\d+-\d+$/;

/**
 * Write one SSE chunk; a client with more than `limit` bytes unread is cut off (false) rather than
 * buffered in this process without bound (100 clients that never read had grown a server to 1.4 GB).
 * Unread is what the socket has not taken of the earlier writes, measured before this one: the
 * chunk being written is not counted (a batch written at once, counted while it was being
 * written, had cut off 300 clients that were keeping up). A client costs at most `limit` plus one chunk.
 */
export function writeOrCut(res: ServerResponse, chunk: string | Buffer, limit: number): boolean {
  if (res.destroyed) return false;
  if (res.writableLength > limit) {
    res.destroy();
    return false;
  }
  res.write(chunk);
  return true;
}
const U64_MAX = 2n ** 64n - 1n;

/** `<ms>-<seq>` with both parts within Redis's 64 bits. */
export const streamIdInRange = (id: string): boolean => ID_RE.test(id) && id.split('-').every((p) => BigInt(p) <= U64_MAX);

function frame(e: CompletionEvent): string {
  return `id: ${e.id}\nevent: completion\ndata: ${JSON.stringify(e)}\n\n`;
}

/**
 * A batch of completions as SSE frames, formatted once whatever the number of clients: every
 * client that has sent none of them is written the same bytes (one Buffer, shared, not copied).
 */
export class FrameBatch {
  private readonly frames: string[];
  private whole?: Buffer;

  constructor(readonly events: readonly CompletionEvent[]) {
    this.frames = events.map(frame);
  }

  /** The frames of the events after `last` ("": all) as one chunk, or undefined when there are none. */
  after(last: string): Buffer | undefined {
    let i = 0;
    if (last) while (i < this.events.length && compareIds(this.events[i]!.id, last) <= 0) i++;
    if (i === this.events.length) return undefined;
    if (i === 0) return (this.whole ??= Buffer.from(this.frames.join('')));
    return Buffer.from(this.frames.slice(i).join(''));
  }
}

/**
 * `GET /v1/events`: Server-Sent Events, one `completion` event per `{p}:done` entry, its entry id
 * as the event id. A client that reconnects with `Last-Event-ID` (or `?last_event_id=`) gets every
 * entry after it still in the stream (XRANGE pages), then the live ones, none twice and none
 * skipped: live events are buffered from before the catch-up starts and sent once it ends, skipping
 * ids already sent. The stream is capped (`limits.doneMaxLen`): a client away longer than the cap
 * lasts misses what was trimmed. Every stream is ended when the server closes.
 */
export function registerEvents(app: FastifyInstance, guard: onRequestHookHandler): void {
  const { redis, keys, completions, limits } = app.pipeline;
  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  // The fan-out: each XREAD batch formatted once, one write per client, `sseFanoutSlice` clients per
  // turn of the event loop (300 clients written event by event had held the process for seconds).
  const clients = new Set<(batch: FrameBatch) => void>();
  completions.subscribe(async (events) => {
    if (clients.size === 0) return;
    const batch = new FrameBatch(events);
    const list = [...clients];
    for (let i = 0; i < list.length; i += limits.sseFanoutSlice) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const deliver of list.slice(i, i + limits.sseFanoutSlice)) deliver(batch);
    }
  });

  app.get<{ Querystring: { last_event_id?: string } }>(
    '/v1/events',
    {
      onRequest: guard,
      schema: {
        summary: 'completions as Server-Sent Events (text/event-stream), resumable with Last-Event-ID',
        querystring: { type: 'object', properties: { last_event_id: { type: 'string', pattern: '^\\d+-\\d+$' } }, additionalProperties: false },
      },
    },
    async (request, reply) => {
      assertRedisReady(redis);
      const header = request.headers['last-event-id'];
      // A malformed header is refused, as the query parameter is: ignored, it had started a live-only stream with a gap.
      if (typeof header === 'string' && header.trim() !== '' && !ID_RE.test(header.trim()))
        return reply
          .code(400)
          .send({ error: 'bad_request', message: `Last-Event-ID ${JSON.stringify(header)}: expected a stream id <ms>-<seq>, as the event ids are` });
      const from = typeof header === 'string' && header.trim() !== '' ? header.trim() : request.query.last_event_id;
      // Checked before the stream starts: Redis refuses an id past 2^64-1, and the catch-up would end the stream with nothing.
      if (from !== undefined && !streamIdInRange(from))
        return reply.code(400).send({ error: 'bad_request', message: `last event id ${from}: each part of a stream id is below 2^64` });
      // HEAD (Fastify adds it for every GET): the headers only; a stream opened for HEAD would never end.
      if (request.method === 'HEAD') return reply.header('content-type', 'text/event-stream').header('cache-control', 'no-cache').send();
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': request.id });
      open.add(res);
      let last = from ?? '';
      let catchingUp = from !== undefined;
      // Live events that arrive during the catch-up, sent after it; past a bound they are dropped and
      // read from the stream by another catch-up pass (a client that reads slowly had grown this without end).
      const buffered: CompletionEvent[] = [];
      const maxBuffered = limits.ssePageSize * 4;
      let overflowed: boolean | undefined;
      /** The batch's events after `last`, in one write. */
      const send = (batch: FrameBatch) => {
        const chunk = res.destroyed ? undefined : batch.after(last);
        if (!chunk) return;
        // Reconnecting with Last-Event-ID, a client cut off for not reading gets what it missed from the stream.
        if (!writeOrCut(res, chunk, limits.sseMaxBufferBytes)) request.log.warn({ limit: limits.sseMaxBufferBytes, last }, 'api.events_slow_client');
        else last = batch.events.at(-1)!.id;
      };
      const deliver = (batch: FrameBatch) => {
        if (!catchingUp) send(batch);
        else if (buffered.length + batch.events.length <= maxBuffered) buffered.push(...batch.events);
        else overflowed = true;
      };
      clients.add(deliver);
      const unsubscribe = () => clients.delete(deliver);
      const heartbeat = setInterval(() => writeOrCut(res, ': ping\n\n', limits.sseMaxBufferBytes), limits.sseHeartbeatMs);
      const close = () => {
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(res);
      };
      res.on('close', close);
      request.log.info({ from: from ?? null }, 'api.events_open');
      res.write(': connected\n\n');
      if (from !== undefined) {
        try {
          for (let pass = from; ; pass = last) {
            overflowed = false;
            buffered.length = 0;
            if (!(await catchUp(pass))) return;
            if (!overflowed) break;
          }
        } catch (err) {
          request.log.error({ err }, 'api.events_catchup_error');
          res.end();
          return;
        }
        catchingUp = false;
        send(new FrameBatch(buffered.splice(0)));
      }

      /** Send what the stream holds after `after`, page by page, no faster than the client reads. False: the client is gone or was cut off. */
      async function catchUp(after: string): Promise<boolean> {
        for (let start = `(${after}`; ;) {
          const page = await redis.xrange(keys.done, start, '+', 'COUNT', limits.ssePageSize);
          send(new FrameBatch(page.flatMap(([id, fields]) => parseCompletion(id, fields) ?? [])));
          if (res.destroyed) return false;
          if (page.length < limits.ssePageSize) return true;
          start = `(${page[page.length - 1]![0]}`;
          if (res.writableNeedDrain && !(await drained(res, limits.sseStallMs))) {
            request.log.warn({ stallMs: limits.sseStallMs, last }, 'api.events_slow_client');
            res.destroy();
            return false;
          }
        }
      }
    },
  );
}

/** Whether `res` drains within `ms` (false: it did not, or it closed). */
function drained(res: ServerResponse, ms: number): Promise<boolean> {
  return new Promise((done) => {
    const timer = setTimeout(() => finish(false), ms);
    const onDrain = () => finish(true);
    const onClose = () => finish(false);
    function finish(ok: boolean) {
      clearTimeout(timer);
      res.off('drain', onDrain).off('close', onClose);
      done(ok);
    }
    res.once('drain', onDrain).once('close', onClose);
  });
}
