/**
 * Many `GET /v1/events` subscribers in a child process of their own (as a server's clients are):
 * their reading does not load the server's event loop in the test process. Each subscriber reads
 * everything, counts the `completion` events it got and notes whether the server ended its stream.
 * `startSubscribers` forks this file; run as the child, it opens the streams.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface SubscribersReport {
  /** Completion events each subscriber got, in the order they were opened. */
  events: number[];
  /** Per subscriber: the server ended its stream (cut it off) before it stopped. */
  cut: boolean[];
}

type Message = { ready: true } | { error: string } | ({ report: true } & SubscribersReport);

/** Open `n` subscribers to `http://127.0.0.1:<port>/v1/events` with `token`; resolves once every stream answered 200. */
export async function startSubscribers(port: number, n: number, token: string, readyTimeoutMs = 30_000) {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [String(port), String(n), token], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (timeoutMs: number) =>
    new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sse subscribers: no answer within ${timeoutMs} ms`)), timeoutMs);
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as Message);
      });
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await gone;
  };
  try {
    const first = await next(readyTimeoutMs);
    if ('error' in first) throw new Error(`sse subscribers: ${first.error}`);
  } catch (err) {
    await stop(); // the caller gets no handle to stop it: the child (and its IPC channel) would hold the process
    throw err;
  }
  return {
    async report(timeoutMs = 10_000): Promise<SubscribersReport> {
      child.send('report');
      const m = await next(timeoutMs);
      if (!('report' in m)) throw new Error(`sse subscribers: unexpected ${JSON.stringify(m)}`);
      return { events: m.events, cut: m.cut };
    },
    stop,
  };
}

function runChild(port: number, n: number, token: string): void {
  const needle = Buffer.from('event: completion');
  const subs: { events: number; cut: boolean; stop: () => void }[] = [];
  let stopping = false;
  let opened = 0;
  const send = (m: Message) => process.send!(m);
  for (let i = 0; i < n; i++) {
    const s = { events: 0, cut: false, stop: () => {} };
    subs.push(s);
    let tail: Buffer = Buffer.alloc(0);
    const req = request({ host: '127.0.0.1', port, path: '/v1/events', headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      if (res.statusCode !== 200) return send({ error: `GET /v1/events answered ${res.statusCode}` });
      res.on('data', (chunk: Buffer) => {
        // Count the needle across chunk boundaries without keeping the stream.
        const buf = tail.length ? Buffer.concat([tail, chunk]) : chunk;
        for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + needle.length)) s.events++;
        tail = buf.subarray(Math.max(0, buf.length - needle.length + 1));
      });
      res.on('close', () => (s.cut ||= !stopping));
      if (++opened === n) send({ ready: true });
    });
    s.stop = () => req.destroy();
    req.on('error', (err) => (stopping ? undefined : send({ error: err.message })));
    req.end();
  }
  process.on('message', (m) => {
    if (m === 'report') send({ report: true, events: subs.map((s) => s.events), cut: subs.map((s) => s.cut) });
  });
  process.on('SIGTERM', () => {
    stopping = true;
    for (const s of subs) s.stop();
    process.exit(0);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runChild(Number(process.argv[2]), Number(process.argv[3]), process.argv[4]!);
