/**
 * One line of a JSONL file a user brings, parsed: the one place the CLI's readers of such files
 * (`pipeline eval --input/--train`, `pipeline priors --input/--reference`, the training data set,
 * reviewers' labels files) turn a line into
 * a value, its bytes decoded first by `decodeLine` below (strictly UTF-8). A leading U+FEFF (a UTF-8
 * byte order mark: Windows editors and Excel's "CSV UTF-8" save put one at the start of a file, and
 * files joined with `cat` have one at the start of each part) is not part of the row and is
 * dropped, as `pipeline produce` does (its TextDecoder drops it at the start of each line). Throws
 * JSON.parse's SyntaxError.
 */
export function parseJsonLine(line: string): unknown {
  return JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
}

/** Why a line whose bytes are not UTF-8 is refused, and what to do about it (each reader puts its file and line before it). */
export const NOT_UTF8 = 'not UTF-8 (a Latin-1 or Windows-1252 file? convert it first, e.g. iconv -f windows-1252 -t utf-8 FILE > FILE.utf8)';

/**
 * Why a file whose first line starts with these bytes is not JSONL text at all, or undefined: gzip,
 * or UTF-16 (Windows PowerShell's `Out-File` and Notepad's "Unicode" save write it; its bytes read
 * as UTF-8 are a byte order mark that is not, or an ASCII "{" followed by a NUL). Each reader puts
 * its file before it; NOT_UTF8's Windows-1252 advice would turn such a file into nonsense.
 */
export function notJsonlText(firstLine: Uint8Array): string | undefined {
  const [a, b] = firstLine;
  if (a === 0x1f && b === 0x8b) return 'gzip-compressed, not JSONL: gunzip it first';
  // With a byte order mark iconv's "utf-16" reads the byte order from it; without one it must be told.
  const from =
    (a === 0xff && b === 0xfe) || (a === 0xfe && b === 0xff)
      ? 'utf-16'
      : a !== undefined && a !== 0 && b === 0
        ? 'utf-16le'
        : a === 0 && b !== undefined && b !== 0
          ? 'utf-16be'
          : undefined;
  return from && `UTF-16, not UTF-8: convert it first, e.g. iconv -f ${from} -t utf-8 FILE > FILE.utf8`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A line's bytes as text, strictly: undefined when they are not UTF-8. A lenient read
 * (`readFileSync(path, 'utf8')`, `Buffer#toString`) puts U+FFFD in place of a Windows-1252 "é"
 * without a word, and the row is used with it.
 */
export function decodeLine(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Where bytes that are not UTF-8 start: the offset of the first byte a lenient read changes (it
 * puts U+FFFD in place of each bad sequence; the valid text before it reads back byte for byte).
 * -1 when every byte is UTF-8.
 */
export function firstNonUtf8Byte(bytes: Uint8Array): number {
  const lenient = Buffer.from(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  for (let i = 0; i < bytes.length; i++) {
    if (lenient[i] === bytes[i]) continue;
    // A cut-short sequence's first bytes (EF, EF BF) read the same as the start of U+FFFD (EF BF BD):
    // the bad sequence starts where that U+FFFD does, up to two bytes before the first difference.
    for (let back = 0; back <= 2 && back <= i; back++) if (isReplacementAt(lenient, i - back)) return i - back;
    return i;
  }
  return -1;
}

const isReplacementAt = (b: Buffer, at: number) => b[at] === 0xef && b[at + 1] === 0xbf && b[at + 2] === 0xbd;

/** One line of a file read whole: its 1-based number, and its text (undefined when its bytes are not UTF-8). */
export interface TextLine {
  lineNo: number;
  text: string | undefined;
}

/**
 * The lines of a JSONL file read whole (the training data set, a labels file), split at LF as
 * `readLines` (lib/producer/jsonl.ts) splits a stream (`pipeline eval`'s files): a CRLF's CR is not
 * the line's, and a last line without LF counts. Each is decoded by `decodeLine`.
 */
export function* textLines(bytes: Uint8Array): Generator<TextLine> {
  let lineNo = 0;
  for (let start = 0; start < bytes.length;) {
    const nl = bytes.indexOf(10, start);
    const end = nl === -1 ? bytes.length : nl;
    const line = bytes.subarray(start, end > start && bytes[end - 1] === 13 ? end - 1 : end);
    yield { lineNo: ++lineNo, text: decodeLine(line) };
    start = end + 1;
  }
}
