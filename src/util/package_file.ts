// The package's own files (the native addons' builds) found from wherever this module runs: src/util
// under tsx, dist/util once built, or inside node_modules/noisy-student.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `rel` (a path from the package root) if it exists, else null. */
export function findPackageFile(rel: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}
