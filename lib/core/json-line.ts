/**
 * One line of a JSONL file a user brings, parsed: the one place the CLI's readers of such files
 * (`pipeline eval --input/--train`, the training data set, reviewers' labels files) turn a line into
 * a value. A leading U+FEFF (a UTF-8 byte order mark: Windows editors and Excel's "CSV UTF-8" save
 * put one at the start of a file, and files joined with `cat` have one at the start of each part)
 * is not part of the row and is dropped, as `pipeline produce` does (its TextDecoder drops it at the
 * start of each line). Throws JSON.parse's SyntaxError.
 */
export function parseJsonLine(line: string): unknown {
  return JSON.parse(line.charCodeAt(0) === 0xfeff ? line.slice(1) : line);
}
