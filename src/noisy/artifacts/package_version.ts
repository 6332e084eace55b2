// This package's version, for the records (read once from package.json).
import { readFileSync } from 'node:fs';

let version: string | null = null;

export function packageVersion(): string {
  if (version) return version;
  try {
    // src/noisy/artifacts and dist/noisy/artifacts are both three levels below package.json.
    version =
      (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    version = 'unknown';
  }
  return version;
}
