#!/usr/bin/env node
import { fatal } from './commands/common.js';
import { buildProgram } from './commands/program.js';
import { onUnhandledRejection } from './commands/unhandled.js';

// A reader that stops early (`pipeline dlq list --json | head -1`) closes the pipe: stop quietly,
// as Unix tools do, instead of dying on an unhandled EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? process.exit(0) : fatal(err)));

process.on('unhandledRejection', (err) => onUnhandledRejection(err, (line) => process.stderr.write(`${line}\n`), fatal));

await buildProgram().parseAsync(process.argv);
