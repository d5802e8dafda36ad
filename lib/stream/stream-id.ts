/** Stream ids ("ms-seq") as numbers: sequence numbers go up to 2^64 - 1, past a double's precision. */

/** A stream id as two integers. */
export interface StreamId {
  ms: bigint;
  seq: bigint;
}

export function parseStreamId(s: string): StreamId | undefined {
  const m = /^(\d+)-(\d+)$/.exec(s);
  return m ? { ms: BigInt(m[1]!), seq: BigInt(m[2]!) } : undefined;
}

export const formatStreamId = (id: StreamId): string => `${id.ms}-${id.seq}`;

export const compareStreamIds = (a: StreamId, b: StreamId): number => (a.ms !== b.ms ? (a.ms < b.ms ? -1 : 1) : a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1);

/** Stream id `a` before `b`; false when either is not an id. */
export function streamIdOlder(a: string, b: string): boolean {
  const x = parseStreamId(a);
  const y = parseStreamId(b);
  return x !== undefined && y !== undefined && compareStreamIds(x, y) < 0;
}

/** "ms-seq" stream ids compared as numbers. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}
