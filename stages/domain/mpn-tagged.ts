/**
 * A tagged model number that cannot be one gives way to a code the tagger also marked: "BK" of
 * "Canon CLI-226 BK C M Y … 4546B007" (a colour code; the tagger also marked 4546B007), "SNMP" of
 * "D-Link DWL-3200AP Managed AP PoE AES SNMP …" (a protocol), "Twelve Hundred" (the case a power
 * supply fits), a bare "4". Only one-word codes: a span such as "Electronics XLDH229N" is no better.
 * On train and dev titles this changes 17 of the shipped taggers' model numbers: 9 become the
 * labelled one (4 on train), 1 right one is lost ("Revopakx" to "Sisrevopak4"), 5 stay wrong, and
 * 2 are on titles without their labelled one.
 */
import { checkMpn } from './mpn.js';
import { looksLikeMpn } from './mpn-shape.js';

export interface TaggedSpan {
  type: string;
  text: string;
  score: number;
}

/**
 * When `mpn` is implausible (validate's `mpnPlausible`: no digit, or fewer than 3 letters and
 * digits), the highest-scoring other MPN span with a model number's shape (`looksLikeMpn`); else null.
 */
export function codeOverImplausible(mpn: string, spans: readonly TaggedSpan[]): string | null {
  if (checkMpn(mpn).plausible) return null;
  const codes = spans.filter((s) => s.type === 'MPN' && s.text !== mpn && !/\s/.test(s.text) && looksLikeMpn(s.text));
  return codes.sort((a, b) => b.score - a.score)[0]?.text ?? null;
}
