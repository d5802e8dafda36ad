#!/usr/bin/env node
import { fatal } from './commands/common.js';
import { buildProgram } from './commands/program.js';
import { onUnhandledRejection } from './commands/unhandled.js';
import { watchOutput } from './commands/output-closed.js';

// A reader that stops early (`pipeline dlq list --json | head -1`) closes the pipe: stop quietly,
// as Unix tools do, instead of dying on an unhandled EPIPE (a job stops as on a signal: output-closed.ts).
watchOutput(fatal);

process.on('unhandledRejection', (err) => onUnhandledRejection(err, (line) => process.stderr.write(`${line}\n`), fatal));

await buildProgram().parseAsync(process.argv);
