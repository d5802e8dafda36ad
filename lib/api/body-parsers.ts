import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../core/errors.js';
import { decodeLine, firstNonUtf8Byte } from '../core/json-line.js';
import { UnsupportedBody } from './errors.js';
import { NdjsonBody } from './submit.js';
import { NDJSON_ROUTES } from './body-types.js';

/** A 400 the error handler answers as `bad_request` with this message. */
const badBody = (message: string) => Object.assign(new Error(message), { statusCode: 400 });

/** A submission without a body (an empty JSON one, or none at all): the 400 it is answered. */
export const emptyBody = () => badBody('body is empty: send a JSON record, an array of them, or NDJSON');

/**
 * A body's bytes as text, strictly UTF-8, else a 400 naming the first byte that is not: a lenient
 * read (Fastify's own) puts U+FFFD in place of a Windows-1252 "é" and the record is stored with it,
 * where `pipeline produce` rejects the same line (`invalid_utf8`).
 */
function strictText(bytes: Buffer): string {
  const text = decodeLine(bytes);
  if (text !== undefined) return text;
  throw badBody(`body is not UTF-8: byte ${firstNonUtf8Byte(bytes)} starts a sequence that is not (send the text as UTF-8)`);
}

/** Fastify's JSON parser: JSON.parse, and a "__proto__" or "constructor" key anywhere refused. */
type JsonParser = ReturnType<FastifyInstance['getDefaultJsonParser']>;

/**
 * JSON text as a value; else a 400 saying why (Fastify's own message, "Body is not valid JSON",
 * said neither where nor, for a "__proto__" key it refuses, why). Parsed once: JSON.parse runs
 * again only to tell a body that is not JSON (its message names the position) from a refused key.
 */
function parseJson(secureJson: JsonParser, text: string, hint = ''): unknown {
  let out: unknown;
  secureJson(undefined as never, text, (err, value) => {
    if (!err) return void (out = value);
    try {
      JSON.parse(text);
    } catch (syntax) {
      throw badBody(`body is not JSON: ${errorMessage(syntax)}${hint}`);
    }
    throw badBody('body has a "__proto__" key, or a "constructor" key holding a "prototype": refused (they would change the objects read)');
  });
  return out;
}

/**
 * The body types the submit routes read (docs/api.md): JSON, NDJSON (each line its own record: a
 * line that is not UTF-8 is that record's rejection, `invalid_utf8`, the others are read), and a
 * form-labelled body read as the JSON `curl -d` sends. Every other type is a 415, and so is a
 * compressed body (a Content-Encoding other than identity).
 */
export function registerBodyParsers(app: FastifyInstance): void {
  // A compressed body is refused by name (RFC 7694: 415): read as it is, a gzipped one had been "body is not UTF-8: byte 1".
  app.addHook('preParsing', async (request, _reply, payload) => {
    const coding = request.headers['content-encoding']?.trim().toLowerCase();
    if (coding && coding !== 'identity') throw new UnsupportedBody(`Content-Encoding ${coding} is not read: send the body uncompressed`);
    return payload;
  });
  const secureJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const text = strictText(body as Buffer);
      if (text.trim() === '') return done(emptyBody(), undefined);
      done(null, parseJson(secureJson, text));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer' }, (req, body, done) => {
    // Only the submit routes read records by line: another route's body is one JSON object (it had been
    // validated as the parser's own object, "body must NOT have additional properties: text").
    const route = `${req.method} ${req.routeOptions.url ?? ''}`;
    if (!NDJSON_ROUTES.has(route))
      return done(new UnsupportedBody(`${route} does not read application/x-ndjson: send its body as application/json`), undefined);
    done(null, ndjson(body as Buffer));
  });
  // Only the types docs/api.md lists: Fastify's own text/plain parser had read a text body as NDJSON.
  app.removeContentTypeParser('text/plain');
  // `curl -d '{...}'` sends JSON labelled as a form: read it as the JSON it is (a form body fails as invalid JSON, 400).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJson(secureJson, strictText(body as Buffer), ' (send Content-Type: application/json)'));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

/** An NDJSON body: its lines, each decoded on its own, so a line that is not UTF-8 is that record's error alone. */
function ndjson(bytes: Buffer): NdjsonBody {
  const whole = decodeLine(bytes);
  if (whole !== undefined) return new NdjsonBody(whole);
  const lines: string[] = [];
  const notUtf8 = new Map<number, number>();
  for (let start = 0; start <= bytes.length;) {
    const nl = bytes.indexOf(10, start);
    const line = bytes.subarray(start, nl === -1 ? bytes.length : nl);
    const text = decodeLine(line);
    if (text === undefined) notUtf8.set(lines.length, firstNonUtf8Byte(line));
    // Kept (leniently decoded) so that the line is counted as a record (api.maxRecordsPerRequest).
    lines.push(text ?? line.toString('utf8'));
    if (nl === -1) break;
    start = nl + 1;
  }
  return new NdjsonBody(lines.join('\n'), notUtf8);
}
