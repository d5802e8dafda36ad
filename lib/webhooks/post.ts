/**
 * One POST of a completion and what its answer means (classified here, in one place):
 * - `delivered`: a 2xx;
 * - `retry`: 408, 429, a 5xx, no answer within the timeout, a network error (refused, reset, DNS):
 *   the receiver may take it later; `retryAfterMs` from its `Retry-After` header when it gave one;
 * - `refused`: any other answer (a 4xx, or a 3xx: redirects are not followed, the URL is the
 *   config's): the receiver said no, sending it again would not change that.
 */
export type PostOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status?: number; error: string; retryAfterMs?: number }
  | { kind: 'refused'; status: number; error: string };

export async function postOnce(url: string, body: string, headers: Record<string, string>, timeoutMs: number, stop?: AbortSignal): Promise<PostOutcome> {
  const signals = [AbortSignal.timeout(timeoutMs), ...(stop ? [stop] : [])];
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.any(signals) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { kind: 'retry', error: why };
  }
  const text = await readHead(res, ANSWER_BYTES);
  const status = res.status;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const error = `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return { kind: 'retry', status, error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  return { kind: 'refused', status, error };
}

/** How much of a receiver's answer is read (its start goes into the error text): a receiver that answers with a huge or endless body costs no more. */
export const ANSWER_BYTES = 4096;

/** The first `max` bytes of the answer's body; the rest is not read (the connection is closed rather than reused). */
async function readHead(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      if (n >= max) break;
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
    }
  } catch {
    // A body cut off (timeout, reset) after the status arrived: the status is the answer.
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** `Retry-After`: seconds, or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
