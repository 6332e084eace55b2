// Paths to the shared fixtures: ../shared beside the repository root (as laid out for developers and CI).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SHARED_DIR = resolve(repoRoot, '..', 'shared');
export const TIMM_FIXTURES = join(SHARED_DIR, 'fixtures', 'timm');
export const MANIFESTS_DIR = join(TIMM_FIXTURES, 'manifests');

if (!existsSync(MANIFESTS_DIR)) {
  throw new Error(`shared fixtures not found at ${MANIFESTS_DIR} (expected ../shared beside the repository)`);
}
