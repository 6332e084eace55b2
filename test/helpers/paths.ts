// Where the shared reference material lives: ../shared beside the repository (CI lays it there).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = resolve(REPO_ROOT, '../shared');
export const FIXTURES = join(SHARED, 'fixtures/timm');

export function sharedPath(...parts: string[]): string {
  const p = join(SHARED, ...parts);
  if (!existsSync(p)) throw new Error(`missing shared reference file ${p} (tests need ../shared beside the repository)`);
  return p;
}
export const MANIFESTS_DIR = join(FIXTURES, 'manifests');
