/** Manufacturer part numbers: a comparable form, and a plausibility check. */

export interface MpnCheck {
  value: string;
  /** Upper-case, letters and digits only: "ktd-dm8400a/1g" → "KTDDM8400A1G". */
  normalized: string;
  /** Has at least one digit and is 3..40 characters once normalised (model names like "Comet" fail). */
  plausible: boolean;
}

export function normalizeMpn(raw: string): string {
  return raw
    .normalize('NFKC')
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '');
}

export function checkMpn(raw: string): MpnCheck {
  const value = raw.trim();
  const normalized = normalizeMpn(value);
  return { value, normalized, plausible: /\d/.test(normalized) && normalized.length >= 3 && normalized.length <= 40 };
}
