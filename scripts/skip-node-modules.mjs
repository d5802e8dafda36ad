import { readFile } from 'node:fs/promises';

/** Module loader hook: ES modules under node_modules need no TypeScript transform; load them as they are. */
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.includes('/node_modules/') && (url.endsWith('.mjs') || context.format === 'module')) {
    return { format: 'module', source: await readFile(new URL(url)), shortCircuit: true };
  }
  return nextLoad(url, context);
}
