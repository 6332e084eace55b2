#!/usr/bin/env node
// The `noisy-student` command: a commander program whose subcommands live in ./commands (one line
// each in commands/index.ts). Every failure ends here: one line on stderr, the stack only with
// --verbose or NS_DEBUG=1, and a non-zero exit code: 2 for a usage error (a bad or missing option
// or argument, which commander reports naming the flag), 1 (or a CliError's code) for the rest.
import { readFileSync } from 'node:fs';
import { Command, type CommanderError } from 'commander';
import * as commands from './commands/index.js';
import { reportError } from './errors.js';
import { globalOptions } from './options.js';
import { configureProgress } from './progress.js';
import { applyThreadPlan } from './options.js';

function packageVersion(): string {
  // src/cli/main.ts and dist/cli/main.js are both two levels below package.json.
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Exit code 2 is the usage-error convention (as getopt tools and argparse): the command line was wrong, not the run. */
const USAGE_EXIT = 2;
const USAGE_ERRORS = new Set([
  'commander.invalidArgument',
  'commander.missingArgument',
  'commander.optionMissingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.conflictingOption',
  'commander.unknownOption',
  'commander.excessArguments',
  'commander.unknownCommand',
]);

/**
 * Commander wants to end the process: it has already printed the error (or the help, the
 * version). Thrown from exitOverride so main() sets the exit code and the process ends on its own
 * (stdout flushed), instead of process.exit.
 */
class CommanderExit extends Error {
  constructor(readonly exitCode: number) {
    super('commander exit');
  }
}

function exitCodeFor(err: CommanderError): number {
  if (err.exitCode === 0) return 0; // --help, --version
  if (USAGE_ERRORS.has(err.code)) return USAGE_EXIT;
  // `noisy-student` without a subcommand: commander prints the help on stderr.
  if (err.code === 'commander.help') return USAGE_EXIT;
  return err.exitCode;
}

/** Give `cmd` and everything below it the program's settings (addCommand copies nothing itself). */
function inheritSettings(cmd: Command, from: Command): void {
  cmd.copyInheritedSettings(from);
  for (const sub of cmd.commands) inheritSettings(sub, from);
}

function buildProgram(): Command {
  const program = new Command('noisy-student')
    .description("timm's Noisy Student EfficientNets and Noisy Student Training for Node, on libtorch")
    .version(packageVersion())
    .option('--verbose', 'print stack traces with errors (as NS_DEBUG=1)')
    .option('-q, --quiet', 'no progress bars or summaries (results and errors are still printed)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride((err) => {
      throw new CommanderExit(exitCodeFor(err));
    })
    // Commander's messages start "error: "; ours read "noisy-student: error: ..." (as reportError's).
    .configureOutput({ outputError: (str, write) => write(`noisy-student: ${str.startsWith('error: ') ? str : `error: ${str}`}`) })
    .configureHelp({ sortSubcommands: true })
    .hook('preAction', (_root, action) => configureProgress({ quiet: globalOptions(action).quiet }))
    // libtorch's intra-op threads from the thread plan of the cores this process may use (the
    // addon's start-up default counts the host's cores); benchmark sets its own per row.
    .hook('preAction', (_root, action) => applyThreadPlan(action));
  // addCommand (unlike .command()) does not inherit settings such as showHelpAfterError and
  // exitOverride: copy them, to nested subcommands too.
  for (const make of Object.values(commands)) {
    const cmd = make();
    inheritSettings(cmd, program);
    program.addCommand(cmd);
  }
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderExit) {
      process.exitCode = e.exitCode;
      return;
    }
    // optsWithGlobals is not available before parsing reached a subcommand; the root's opts are.
    process.exitCode = reportError(e, program.opts<{ verbose?: boolean }>().verbose === true);
  }
}

await main();
