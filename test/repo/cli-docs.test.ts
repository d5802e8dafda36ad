/**
 * docs/cli.md lists every command of `pipeline --help` in its index and gives each a section naming
 * every option (the README says so), and no option the command does not have: the reference cannot
 * drift from the CLI.
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

/** docs/cli.md's section per command: from `## pipeline dlq` (or `## pipeline store migrate`) to the next `##` heading → dlq. */
export function cliSections(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  for (const part of markdown.split(/^(?=## )/m)) {
    const m = /^## pipeline ([a-z-]+)/.exec(part);
    if (m) sections.set(m[1]!, part);
  }
  return sections;
}

/** The commands the index table at the top of docs/cli.md links to their sections: `| [\`pipeline dlq …\`](#pipeline-dlq) |` → dlq. */
export function cliIndex(markdown: string): Map<string, string> {
  const index = new Map<string, string>();
  for (const m of markdown.matchAll(/^\| \[`pipeline ([a-z-]+)[^`]*`\]\(#([a-z-]+)\)/gm)) index.set(m[1]!, m[2]!);
  return index;
}

/** `--name` as a whole option in `text` (not the start of a longer one). */
export const namesOption = (text: string, option: string): boolean => new RegExp(`${option}(?![a-z-])`).test(text);

/** The section without spans about another command ("`acl --apply` does it too"). */
function otherCommandsLeftOut(section: string, own: string): string {
  return section.replace(/`(?:pipeline )?([a-z-]+) --[^`]*`/g, (span, name: string) => (name !== own && commands.some((c) => c.name() === name) ? '' : span));
}

const program = buildProgram();
const commands = program.commands.filter((c) => c.name() !== 'help');
const markdown = readFileSync(join(REPO, 'docs/cli.md'), 'utf8');
const sections = cliSections(markdown);

test('a docs/cli.md section for every command, and no section for a command the CLI lacks', () => {
  const missing = commands.map((c) => c.name()).filter((n) => !sections.has(n));
  assert.equal(missing, [], `commands without a "## pipeline <command>" section in docs/cli.md: ${missing.join(', ')}`);
  const extra = [...sections.keys()].filter((n) => !commands.some((c) => c.name() === n));
  assert.equal(extra, [], `sections for commands the CLI does not have: ${extra.join(', ')}`);
});

test("the index lists every command, in the sections' order, each linking to its section", () => {
  const index = cliIndex(markdown);
  assert.equal([...index.keys()], [...sections.keys()], 'the index names the commands of the sections, in their order');
  // `## pipeline store migrate` → #pipeline-store-migrate (test/repo/docs-links.test.ts checks every anchor resolves).
  const anchorOf = (name: string) => /^## (.+)/.exec(sections.get(name)!)![1]!.trim().toLowerCase().replace(/ /g, '-');
  const elsewhere = [...index].filter(([name, anchor]) => anchor !== anchorOf(name)).map(([name, anchor]) => `${name} → #${anchor}`);
  assert.equal(elsewhere, [], `index rows that link to another section than their command's: ${elsewhere.join(', ')}`);
});

test("each section names every option of its command (and its subcommands')", () => {
  const missing = commands.flatMap((c) =>
    longOptions(c)
      .filter((o) => !namesOption(sections.get(c.name()) ?? '', o))
      .map((o) => `${c.name()} ${o}`),
  );
  assert.equal(missing, [], `options missing from docs/cli.md: ${missing.join(', ')}`);
});

test('each section names only options its command has', () => {
  const global = longOptions(program).filter((o) => !program.commands.some((c) => longOptions(c).includes(o)));
  const unknown = commands.flatMap((c) => {
    const known = new Set([...longOptions(c), ...global]);
    const named = otherCommandsLeftOut(sections.get(c.name()) ?? '', c.name()).match(/--[a-z][a-z-]*/g) ?? [];
    return named.filter((o) => !known.has(o)).map((o) => `${c.name()} ${o}`);
  });
  assert.equal(unknown, [], `docs/cli.md names options the command does not have: ${unknown.join(', ')}`);
});

test('an option several subcommands have is named once for each of them (`dlq list --count` hid behind `replay --count`)', () => {
  const short = commands.flatMap((c) => {
    const section = sections.get(c.name()) ?? '';
    const perSub = new Map<string, number>();
    for (const sub of c.commands) for (const o of longOptions(sub)) perSub.set(o, (perSub.get(o) ?? 0) + 1);
    return [...perSub]
      .filter(([o, n]) => n > 1 && (section.match(new RegExp(`${o}(?![a-z-])`, 'g'))?.length ?? 0) < n)
      .map(([o, n]) => `${c.name()} ${o} (${n} subcommands)`);
  });
  assert.equal(short, [], `options named fewer times than the subcommands that have them: ${short.join(', ')}`);
});

/** A section's `###` subsections by their heading's last word: `### webhooks dlq list` → list. */
export function subsections(section: string): Map<string, string> {
  const subs = new Map<string, string>();
  for (const part of section.split(/^(?=### )/m)) {
    const m = /^### .*?([a-z-]+)\s*$/m.exec(part);
    if (m && part.startsWith('### ')) subs.set(m[1]!, part);
  }
  return subs;
}

/** The subcommands that take no further subcommand: webhooks → its dlq's list, redeliver, purge. */
const leaves = (cmd: Command): Command[] => cmd.commands.flatMap((s) => (s.commands.length > 0 ? leaves(s) : [s]));

test("where a section has a subsection per subcommand, each names its own subcommand's options (not only the synopsis)", () => {
  const missing = commands.flatMap((c) => {
    const subs = subsections(sections.get(c.name()) ?? '');
    if (c.commands.length === 0 || subs.size === 0) return [];
    return leaves(c)
      .filter((sub) => longOptions(sub).length > 0)
      .flatMap((sub) => {
        const text = subs.get(sub.name());
        if (text === undefined) return [`${c.name()} ${sub.name()}: no "### ... ${sub.name()}" subsection`];
        return longOptions(sub)
          .filter((o) => !namesOption(text, o))
          .map((o) => `${c.name()} ${sub.name()} ${o}`);
      });
  });
  assert.equal(missing, [], `subsections missing their options: ${missing.join(', ')}`);
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

test('the section and index parsers and the option match see what they should', () => {
  const md =
    '# CLI\n\n| [`pipeline dlq list\\|show`](#pipeline-dlq) | x |\n| command | what |\n\n## pipeline dlq\n\n- `--all`\n\n### dlq list\n\n- `--count n`\n\n## pipeline store migrate\n\ny\n\n## Background runs\n\n`--parent-poll-ms`\n';
  const r = cliSections(md);
  assert.equal([...r.keys()], ['dlq', 'store']);
  assert.match(r.get('dlq')!, /--count n/, 'a subsection belongs to its command');
  assert.not.match(r.get('store')!, /--parent-poll-ms/, 'a section ends at the next ## heading');
  assert.equal([...cliIndex(md)], [['dlq', 'pipeline-dlq']]);
  assert.equal([...subsections(r.get('dlq')!).keys()], ['list']);
  assert.ok(namesOption('`--retry-for ms`', '--retry-for'));
  assert.not.ok(namesOption('`--retry-for ms`', '--retry'));
});

test.run();
