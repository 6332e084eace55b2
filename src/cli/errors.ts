// How the CLI reports failures: one clear line on stderr (the stack only when asked for), and a
// non-zero exit. CliError is for refusals the user can fix (missing weights, bad class map...).
import { UnknownModelError } from '../models/index.js';

export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit code. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Whether stacks should be shown: --verbose, or NS_DEBUG=1 (which also covers errors before option parsing). */
export function debugEnabled(verboseFlag: boolean): boolean {
  const env = process.env['NS_DEBUG'];
  return verboseFlag || (env !== undefined && env !== '' && env !== '0');
}

/** The one-line message for an error; an unknown model lists the closest names. */
export function formatError(e: unknown): string {
  if (e instanceof UnknownModelError) {
    const hint = e.suggestions.length > 0 ? ` Did you mean: ${e.suggestions.join(', ')}?` : '';
    return `unknown model "${e.modelName}".${hint} (\`noisy-student models\` lists every name)`;
  }
  // Multi-line messages are folded so the report stays one line (greppable in logs).
  if (e instanceof Error) return e.message.trim().replace(/\s*\n\s*/g, ' ') || e.name;
  return String(e);
}

/** Print an error the CLI way; returns the exit code to use. */
export function reportError(e: unknown, verbose: boolean): number {
  process.stderr.write(`noisy-student: error: ${formatError(e)}\n`);
  if (debugEnabled(verbose) && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return e instanceof CliError ? e.exitCode : 1;
}

/** A non-fatal notice on stderr; clears a progress bar's line first so the two do not mix. */
export function warn(message: string): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  process.stderr.write(`warning: ${message}\n`);
}
