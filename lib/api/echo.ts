/**
 * The most of a client's own text (its path, a header) that an answer or a log line repeats: a
 * 12 kB path is not sent back, nor written whole into the request's log line.
 */
export const ECHO_MAX = 200;

/** `text` as an answer or a log line repeats it: its first ECHO_MAX characters, and how many more there were. */
export function echo(text: string): string {
  return text.length <= ECHO_MAX ? text : `${text.slice(0, ECHO_MAX)}... (${text.length - ECHO_MAX} more characters)`;
}
