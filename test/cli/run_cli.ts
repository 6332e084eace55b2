// Runs the CLI from source as a child process (no build needed), as a user would run the binary.
import { execFile } from 'node:child_process';
import { REPO_ROOT } from '../helpers/paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      // NS_DEBUG unset so error output is the user-facing one line; no TTY, so no progress bar.
      { cwd: REPO_ROOT, env: { ...process.env, NS_DEBUG: '', ...opts.env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** `train --quiet` of the tests' tiny model on the embedded Fashion-MNIST; the test adds the rest. */
export const TRAIN_TINY_FMNIST: readonly string[] = ['train', '--quiet', '--model', 'tinynet_e', '--data', 'fashion-mnist'];
