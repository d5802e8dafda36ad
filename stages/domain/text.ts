/** Text cleaning for product listings: what preprocess does to a title or description. */

const TAG = /<\/?[a-zA-Z][^>]*>/g;
const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', trade: '™', reg: '®', copy: '©' };
// C0/C1 controls except tab/newline (which become spaces below), and zero-width characters.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200D\uFEFF]/g;

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
    }
    return ENTITY[e.toLowerCase()] ?? m;
  });
}

// Unicode hyphens and dashes (and the minus sign): part numbers are written with an ASCII '-'.
const DASH = /[\u2010-\u2015\u2212]/g;

/** Unicode NFKC, HTML tags and entities removed, control characters dropped, dashes unified, whitespace collapsed. */
export function cleanText(raw: string): string {
  return decodeEntities(raw.replace(TAG, ' ')).normalize('NFKC').replace(CONTROL, '').replace(DASH, '-').replace(/\s+/g, ' ').trim();
}
