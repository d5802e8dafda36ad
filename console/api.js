// The console's calls to its server: bearer token from sessionStorage, JSON in and out,
// and Server-Sent Events read with fetch (EventSource cannot send an Authorization header).
const KEY = 'streamline-enrich.token';
export const token = { get: () => sessionStorage.getItem(KEY) || '', set: (t) => sessionStorage.setItem(KEY, t), clear: () => sessionStorage.removeItem(KEY) };

export class HttpError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  const t = token.get();
  return t ? { authorization: `Bearer ${t}`, ...extra } : extra;
}

export async function api(path, { method = 'GET', body } = {}) {
  const res = await fetch(path, {
    method,
    headers: headers(body ? { 'content-type': 'application/json' } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!res.ok) throw new HttpError(res.status, data);
  return data;
}

/** Read an SSE stream; calls onEvent(name, data) per event; reconnects after retryMs; returns stop(). */
export function events(path, onEvent, onState, retryMs = 2000) {
  let stopped = false;
  let ctrl;
  const run = async () => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const res = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal: ctrl.signal });
        if (!res.ok) throw new HttpError(res.status, null);
        onState('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let name = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) name = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
            }
            if (data.length) onEvent(name, JSON.parse(data.join('\n')));
          }
        }
      } catch (err) {
        if (stopped) return;
        onState(`reconnecting (${err.message})`);
      }
      if (!stopped) await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  run();
  return () => {
    stopped = true;
    ctrl?.abort();
  };
}
