// Recursive file listing that follows symlinks (like os.walk(followlinks=True)) without looping.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface WalkEntry {
  /** Absolute or root-relative path as joined from the root. */
  readonly path: string;
  /** Directory containing the file, relative to the root ('' for the root itself). */
  readonly relDir: string;
  readonly name: string;
}

export function walkFiles(root: string): WalkEntry[] {
  const out: WalkEntry[] = [];
  const seen = new Set<string>();
  const visit = (dir: string, relDir: string): void => {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      return;
    }
    if (seen.has(real)) return;
    seen.add(real);
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, ent.name);
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      if (ent.isSymbolicLink()) {
        try {
          const st = statSync(p);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) visit(p, relDir ? join(relDir, ent.name) : ent.name);
      else if (isFile) out.push({ path: p, relDir, name: ent.name });
    }
  };
  visit(root, '');
  return out;
}
