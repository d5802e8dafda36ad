import { BadRecordError, errorMessage } from '../lib/core/errors.js';
import { fail, ok, type Stage, type StageContext } from '../lib/worker/stage.js';
import { findGtins } from './domain/gtin.js';
import { validateRecord } from '../lib/producer/record.js';
import { cleanText } from './domain/text.js';

/**
 * Cleans the record's text (NFKC, HTML and control characters out, whitespace collapsed); the
 * original stays in the envelope's input. Carries identifiers the producer gave (mpn, gtin) and
 * barcodes with a valid check digit found in the text, so routing can gate on them.
 */
export function createPreprocess(ctx: StageContext): Stage {
  const maxBytes = ctx.config.limits.maxRecordBytes;
  return {
    kind: 'preprocess',
    async process(batch) {
      return batch.map((m) => {
        try {
          const r = validateRecord(m.envelope.input, maxBytes);
          const title = cleanText(r.title);
          // Markup or entities alone ("<br>", "&nbsp;"): the classifier would be given nothing and still pick a category.
          if (title === '') throw new BadRecordError('field "title": nothing left once cleaned (HTML markup, entities, control or zero-width characters only)');
          const description = r.description ? cleanText(r.description) : '';
          const text = description ? `${title} ${description}` : title;
          const gtin = r.gtin ? cleanText(r.gtin) : findGtins(text)[0];
          const out: Record<string, unknown> = { title, text };
          if (r.mpn && cleanText(r.mpn)) out.mpn = cleanText(r.mpn);
          if (gtin) out.gtin = gtin;
          if (r.brand) out.brand = cleanText(r.brand);
          return ok(out);
        } catch (err) {
          return fail(err instanceof Error ? err : new Error(errorMessage(err)));
        }
      });
    },
  };
}
