import type { Readable } from 'node:stream';

export interface Line {
  /** 1-based line number in the input. */
  lineNo: number;
  /** The line's bytes without the newline; undefined when it was longer than the limit (not buffered). */
  bytes?: Buffer;
  /** Length of the line in bytes (counted even when oversized). */
  size: number;
}

/**
 * Split a byte stream into lines without decoding it (so invalid UTF-8 can be reported per line),
 * holding at most `maxBytes` of any one line in memory: a longer line is measured and skipped.
 */
export async function* readLines(input: Readable, maxBytes: number): AsyncGenerator<Line> {
  let parts: Buffer[] = [];
  let size = 0;
  let lineNo = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      const piece = buf.subarray(start, nl);
      size += piece.length;
      if (size <= maxBytes) parts.push(piece);
      lineNo++;
      yield finish(lineNo, parts, size, maxBytes);
      parts = [];
      size = 0;
      start = nl + 1;
    }
    const rest = buf.subarray(start);
    size += rest.length;
    if (size <= maxBytes) parts.push(Buffer.from(rest)); // copy: the chunk may be reused
  }
  if (size > 0) yield finish(lineNo + 1, parts, size, maxBytes);
}

function finish(lineNo: number, parts: Buffer[], size: number, maxBytes: number): Line {
  if (size > maxBytes) return { lineNo, size };
  let bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 13) bytes = bytes.subarray(0, -1); // CRLF
  return { lineNo, bytes, size };
}
