/**
 * Module resolve hook (development only): resolve with the `source` export condition, so
 * `import ... from 'streamline-enrich'` (package.json `exports`, e.g. from examples/) loads the
 * TypeScript sources in lib/ that this process runs, never a possibly stale dist/.
 */
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('source') ? context.conditions : [...context.conditions, 'source'];
  return nextResolve(specifier, { ...context, conditions });
}
