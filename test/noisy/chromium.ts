// Headless Chromium for the report tests: the report loaded as a browser loads it (file://), its DOM
// dumped after rendering, and the console errors Chromium printed. Locally a test skips with a clear
// message when no chromium is installed; in CI (NOISY_STUDENT_REQUIRE_CHROMIUM=1, set by .ci/run) a
// missing browser is a failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export function findChromium(): string | null {
  for (const c of [process.env['CHROMIUM'], 'chromium', 'chromium-browser', 'google-chrome']) {
    if (!c) continue;
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return null;
}

/** null: skip (with this message); throws in CI. */
export function chromiumOrSkip(): { bin: string } | { skip: string } {
  const bin = findChromium();
  if (bin) return { bin };
  const msg = 'chromium is not installed (apt-get install -y chromium): the report is not checked in a browser here';
  if (process.env['NOISY_STUDENT_REQUIRE_CHROMIUM'] === '1') throw new Error(`${msg}; CI requires it`);
  return { skip: msg };
}

export function renderInChromium(bin: string, htmlFile: string): { dom: string; errors: string[] } {
  const profile = mkdtempSync(join(tmpdir(), 'ns-chromium-'));
  try {
    const r = spawnSync(
      bin,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        `--user-data-dir=${profile}`,
        '--enable-logging=stderr',
        '--v=0',
        '--dump-dom',
        pathToFileURL(htmlFile).href,
      ],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 },
    );
    if (r.status !== 0) throw new Error(`chromium exited ${r.status}: ${r.stderr.slice(-2000)}`);
    // Page errors (a script error, a resource that failed to load) are logged as CONSOLE lines.
    const errors = r.stderr.split('\n').filter((l) => /CONSOLE|Uncaught|Failed to load|net::ERR_/.test(l));
    return { dom: r.stdout, errors };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
