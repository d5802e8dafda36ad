/**
 * One `GET /v1/events` stream read in the test process: every whole completion frame's SSE id and
 * data, in the order they came (a chunk may end inside a frame: only whole frames are kept), and
 * the `event: gap` frames apart.
 */
export interface SseFrame {
  /** The SSE `id:` line (the position: one stream id, or one per shard joined by commas). */
  id: string;
  data: { id: string; key: string; status: string; shard?: number };
}

/** Open the stream (`lastEventId`: sent as Last-Event-ID) and read it until close(); `frames` grows as they come. */
export async function openEvents(base: string, headers: Record<string, string>, lastEventId?: string) {
  const ac = new AbortController();
  const res = await fetch(`${base}/v1/events`, { headers: { ...headers, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: ac.signal });
  if (res.status !== 200) throw new Error(`GET /v1/events: ${res.status} ${await res.text()}`);
  const frames: SseFrame[] = [];
  /** `event: gap` frames (no id): their data, and how many completion frames had come before each. */
  const gaps: { data: { after: string; first: string; shard?: number }; before: number }[] = [];
  const reading = (async () => {
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString();
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (\S+)$/m.exec(frame);
        const data = /^data: (.*)$/m.exec(frame);
        if (data && /^event: gap$/m.test(frame)) gaps.push({ data: JSON.parse(data[1]!), before: frames.length });
        else if (id && data) frames.push({ id: id[1]!, data: JSON.parse(data[1]!) });
      }
    }
  })().catch(() => {});
  return {
    frames,
    gaps,
    /** The keys of the frames, in order. */
    keys: () => frames.map((f) => f.data.key),
    async close() {
      ac.abort();
      await reading;
    },
  };
}
