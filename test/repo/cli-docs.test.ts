/**
 * docs/cli.md lists every command of `pipeline --help` and every option of each (the README says
 * so), and names no option a command does not have: the table cannot drift from the CLI.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildProgram } from '../../scripts/commands/program.js';

const REPO = resolve(import.meta.dirname, '../..');

/** The command and its subcommands' long options (`--help` left out). */
function longOptions(cmd: Command): string[] {
  const own = cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined && l !== '--help');
  return [...own, ...cmd.commands.flatMap(longOptions)];
}

/** The table rows of docs/cli.md by command: `| \`pipeline dlq list|show …\` | … |` → dlq. */
export function cliRows(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `pipeline ([a-z-]+)[^|]*/.exec(line);
    if (m) rows.set(m[1]!, line);
  }
  return rows;
}

/** `--name` as a whole option in `text` (not the start of a longer one). */
export const namesOption = (text: string, option: string): boolean => new RegExp(`${option}(?![a-z-])`).test(text);

/** The row without spans about another command ("`acl --apply` does it too"). */
function otherCommandsLeftOut(row: string, own: string): string {
  return row.replace(/`(?:pipeline )?([a-z-]+) --[^`]*`/g, (span, name: string) => (name !== own && commands.some((c) => c.name() === name) ? '' : span));
}

const program = buildProgram();
const commands = program.commands.filter((c) => c.name() !== 'help');
const rows = cliRows(readFileSync(join(REPO, 'docs/cli.md'), 'utf8'));

test('a docs/cli.md row for every command', () => {
  const missing = commands.map((c) => c.name()).filter((n) => !rows.has(n));
  assert.equal(missing, [], `commands without a row in docs/cli.md: ${missing.join(', ')}`);
});

test("each row names every option of its command (and its subcommands')", () => {
  const missing = commands.flatMap((c) =>
    longOptions(c)
      .filter((o) => !namesOption(rows.get(c.name()) ?? '', o))
      .map((o) => `${c.name()} ${o}`),
  );
  assert.equal(missing, [], `options missing from docs/cli.md: ${missing.join(', ')}`);
});

test('each row names only options its command has', () => {
  const global = longOptions(program).filter((o) => !program.commands.some((c) => longOptions(c).includes(o)));
  const unknown = commands.flatMap((c) => {
    const known = new Set([...longOptions(c), ...global]);
    const named = otherCommandsLeftOut(rows.get(c.name()) ?? '', c.name()).match(/--[a-z][a-z-]*/g) ?? [];
    return named.filter((o) => !known.has(o)).map((o) => `${c.name()} ${o}`);
  });
  assert.equal(unknown, [], `docs/cli.md names options the command does not have: ${unknown.join(', ')}`);
});

test('an option several subcommands have is named once for each of them (`dlq list --count` hid behind `replay --count`)', () => {
  const short = commands.flatMap((c) => {
    const row = rows.get(c.name()) ?? '';
    const perSub = new Map<string, number>();
    for (const sub of c.commands) for (const o of longOptions(sub)) perSub.set(o, (perSub.get(o) ?? 0) + 1);
    return [...perSub]
      .filter(([o, n]) => n > 1 && (row.match(new RegExp(`${o}(?![a-z-])`, 'g'))?.length ?? 0) < n)
      .map(([o, n]) => `${c.name()} ${o} (${n} subcommands)`);
  });
  assert.equal(short, [], `options named fewer times than the subcommands that have them: ${short.join(', ')}`);
});

test("`pipeline --help` names every environment variable of docs/configuration.md's overrides", () => {
  const md = readFileSync(join(REPO, 'docs/configuration.md'), 'utf8');
  const overrides = md.slice(md.indexOf('Environment overrides:'), md.indexOf('([HTTP API](api.md)).'));
  const names = [...new Set([...overrides.matchAll(/`([A-Z][A-Z0-9_]*(?:<STAGE>)?)/g)].map((m) => m[1]!))];
  assert.ok(names.length >= 15, `read the list: ${names.join(', ')}`);
  const help = program.description();
  const missing = names.filter((n) => !new RegExp(`(^|[^A-Z_])${n.replace(/[<>]/g, '\\$&')}(?![A-Z_])`).test(help));
  assert.equal(missing, [], `missing from pipeline --help: ${missing.join(', ')}`);
  assert.match(help, /docs\/configuration\.md/);
});

test('the row parser and option match see what they should', () => {
  const r = cliRows('| `pipeline dlq list\\|show <id>` | x `--all` |\n| command | what |\n| `pipeline store migrate` | y |');
  assert.equal([...r.keys()], ['dlq', 'store']);
  assert.ok(namesOption('`--retry-for ms`', '--retry-for'));
  assert.not.ok(namesOption('`--retry-for ms`', '--retry'));
});

test.run();
