import type { ServerResponse } from 'node:http';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { parseCompletion } from '../stream/completions.js';
import { assertRedisReady } from './errors.js';
import { FrameBatch, parsePosition, POSITION_RE } from './sse-frames.js';
import { gapFrame } from './sse-gap.js';
import { trimmedPast } from '../stream/trimmed-past.js';
import { echo } from './echo.js';

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
export { FrameBatch, streamIdInRange } from './sse-frames.js';

/**
 * `GET /v1/events`: Server-Sent Events, one `completion` event per `{p}:done` entry (sharded: every
 * shard's `{p:N}:done`, in one stream), its position as the event id (the entry id; sharded, every
 * shard's last id, lib/api/sse-frames.ts). A client that reconnects with `Last-Event-ID` (or
 * `?last_event_id=`) gets every entry after it still in the streams (XRANGE pages, shard after
 * shard), then the live ones, none twice and none skipped: live batches are buffered from before the
 * catch-up starts and sent once it ends, skipping ids already sent. The streams are capped
 * (`limits.doneMaxLen`): a client away longer than the cap lasts misses what was trimmed, and is
 * told so first, by an `event: gap` frame per stream (lib/api/sse-gap.ts). Every stream is ended
 * when the server closes.
 */
export function registerEvents(app: FastifyInstance, guard: onRequestHookHandler): void {
  const { redis, shards, completions, limits, waits } = app.pipeline;
  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  // The fan-out: each XREAD batch formatted once, one write per client, `sseFanoutSlice` clients per
  // turn of the event loop (300 clients written event by event had held the process for seconds).
  const clients = new Set<(batch: FrameBatch) => void>();
  completions.subscribe(async (events, before) => {
    if (clients.size === 0) return;
    const batch = new FrameBatch(events, before);
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
      preHandler: waits.guard(),
      schema: {
        summary: 'completions as Server-Sent Events (text/event-stream), resumable with Last-Event-ID',
        querystring: { type: 'object', properties: { last_event_id: { type: 'string', pattern: POSITION_RE.source } }, additionalProperties: false },
      },
    },
    async (request, reply) => {
      assertRedisReady(redis);
      const header = request.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && header.trim() !== '';
      const given = fromHeader ? header.trim() : request.query.last_event_id;
      // A malformed id is refused (a header ignored had started a live-only stream with a gap), and one
      // past 2^64-1 too (Redis refuses it: the catch-up would end the stream with nothing), before the stream starts.
      const from = given === undefined ? undefined : parsePosition(given, shards.count);
      if (from && !Array.isArray(from))
        return reply
          .code(400)
          .send({ error: 'bad_request', message: `${fromHeader ? 'Last-Event-ID' : 'last event id'} ${JSON.stringify(echo(given ?? ''))}: ${from.error}` });
      // HEAD (Fastify adds it for every GET): the headers only; a stream opened for HEAD would never end.
      if (request.method === 'HEAD') return reply.header('content-type', 'text/event-stream').header('cache-control', 'no-cache').send();
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': request.id });
      open.add(res);
      // Per shard, the last entry id sent: a new client starts where the readers are (it gets what they read from now on).
      let last: readonly string[] = from ?? [...completions.positions];
      let catchingUp = from !== undefined;
      // Live batches that arrive during the catch-up, sent after it; past a bound they are dropped and
      // read from the streams by another catch-up pass (a client that reads slowly had grown this without end).
      const buffered: FrameBatch[] = [];
      let bufferedEvents = 0;
      const maxBuffered = limits.ssePageSize * 4;
      let overflowed: boolean | undefined;
      /** The batch's events after `last`, in one write. */
      const send = (batch: FrameBatch) => {
        const out = res.destroyed ? undefined : batch.after(last);
        if (!out) return;
        // Reconnecting with Last-Event-ID, a client cut off for not reading gets what it missed from the stream.
        if (!writeOrCut(res, out.chunk, limits.sseMaxBufferBytes))
          request.log.warn({ limit: limits.sseMaxBufferBytes, last: last.join(',') }, 'api.events_slow_client');
        else last = out.position;
      };
      const deliver = (batch: FrameBatch) => {
        if (!catchingUp) send(batch);
        else if (bufferedEvents + batch.events.length <= maxBuffered) {
          buffered.push(batch);
          bufferedEvents += batch.events.length;
        } else overflowed = true;
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
      request.log.info({ from: from ? from.join(',') : null }, 'api.events_open');
      res.write(': connected\n\n');
      if (from !== undefined) {
        try {
          for (let s = 0; s < shards.count; s++) if (!(await sayGap(s))) return;
          for (;;) {
            overflowed = false;
            buffered.length = 0;
            bufferedEvents = 0;
            for (let s = 0; s < shards.count; s++) if (!(await catchUp(s))) return;
            if (!overflowed) break;
          }
        } catch (err) {
          request.log.error({ err }, 'api.events_catchup_error');
          res.end();
          return;
        }
        catchingUp = false;
        for (const batch of buffered.splice(0)) send(batch);
      }

      /**
       * Nothing lost unsaid: a client away longer than shard `s`'s capped stream lasts is told where
       * its gap is, once, before its catch-up. False: the client was cut off.
       */
      async function sayGap(s: number): Promise<boolean> {
        const gap = await trimmedPast(redis, shards.all[s]!.done, last[s]!);
        if (!gap) return true;
        const tag = shards.count > 1 ? s : undefined;
        request.log.warn({ ...(tag === undefined ? {} : { shard: tag }), ...gap }, 'api.events_gap');
        return writeOrCut(res, gapFrame(gap, tag), limits.sseMaxBufferBytes);
      }

      /** Send what shard `s`'s stream holds after the client's position there, page by page, no faster than the client reads. False: the client is gone or was cut off. */
      async function catchUp(s: number): Promise<boolean> {
        const tag = shards.count > 1 ? s : undefined;
        for (let start = `(${last[s]}`; ;) {
          const page = await redis.xrange(shards.all[s]!.done, start, '+', 'COUNT', limits.ssePageSize);
          send(
            new FrameBatch(
              page.flatMap(([id, fields]) => parseCompletion(id, fields, tag) ?? []),
              last,
            ),
          );
          if (res.destroyed) return false;
          if (page.length < limits.ssePageSize) return true;
          start = `(${page[page.length - 1]![0]}`;
          if (res.writableNeedDrain && !(await drained(res, limits.sseStallMs))) {
            request.log.warn({ stallMs: limits.sseStallMs, last: last.join(',') }, 'api.events_slow_client');
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
