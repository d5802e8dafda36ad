import type { Readable } from 'node:stream';

export interface Line {
  /** 1-based line number in the input. */
  lineNo: number;
  /** The line's bytes without the newline; undefined when it was longer than the limit (not buffered). */
  bytes?: Buffer;
  /** Length of the line in bytes, without a CRLF's CR (counted even when oversized). */
  size: number;
}

/**
 * Split a byte stream into lines without decoding it (so invalid UTF-8 can be reported per line),
 * holding at most `maxBytes` of any one line in memory: a longer line is measured and skipped.
 */
export async function* readLines(input: Readable, maxBytes: number): AsyncGenerator<Line> {
  // One byte more is held, for a CRLF line's CR: it is not the record's, so it does not count.
  const hold = maxBytes + 1;
  let parts: Buffer[] = [];
  let size = 0;
  let last = -1;
  let lineNo = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      const piece = buf.subarray(start, nl);
      size += piece.length;
      if (piece.length > 0) last = piece[piece.length - 1]!;
      if (size <= hold) parts.push(piece);
      lineNo++;
      yield finish(lineNo, parts, size, last, maxBytes);
      parts = [];
      size = 0;
      last = -1;
      start = nl + 1;
    }
    const rest = buf.subarray(start);
    size += rest.length;
    if (rest.length > 0) last = rest[rest.length - 1]!;
    if (size <= hold) parts.push(Buffer.from(rest)); // copy: the chunk may be reused
  }
  if (size > 0) yield finish(lineNo + 1, parts, size, last, maxBytes);
}

/** The line, without a CRLF's CR (`last`: the line's last byte, -1 when empty). */
function finish(lineNo: number, parts: Buffer[], rawSize: number, last: number, maxBytes: number): Line {
  const size = last === 13 ? rawSize - 1 : rawSize;
  if (size > maxBytes) return { lineNo, size };
  const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return { lineNo, bytes: bytes.subarray(0, size), size };
}
