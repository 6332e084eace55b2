#!/usr/bin/env node
// The `noisy-student` command: a commander program whose subcommands live in ./commands (one line
// each in commands/index.ts). Every failure ends here: one line on stderr, the stack only with
// --verbose or NS_DEBUG=1, and a non-zero exit code.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import * as commands from './commands/index.js';
import { reportError } from './errors.js';
import { globalOptions } from './options.js';
import { configureProgress } from './progress.js';

function packageVersion(): string {
  // src/cli/main.ts and dist/cli/main.js are both two levels below package.json.
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function buildProgram(): Command {
  const program = new Command('noisy-student')
    .description("timm's Noisy Student EfficientNets and Noisy Student Training for Node, on libtorch")
    .version(packageVersion())
    .option('--verbose', 'print stack traces with errors (as NS_DEBUG=1)')
    .option('-q, --quiet', 'no progress bars or summaries (results and errors are still printed)')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: true })
    .hook('preAction', (_root, action) => configureProgress({ quiet: globalOptions(action).quiet }));
  // addCommand (unlike .command()) does not inherit settings such as showHelpAfterError: copy them.
  for (const make of Object.values(commands)) program.addCommand(make().copyInheritedSettings(program));
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    // optsWithGlobals is not available before parsing reached a subcommand; the root's opts are.
    process.exitCode = reportError(e, program.opts<{ verbose?: boolean }>().verbose === true);
  }
}

await main();
