// The filter stage: confident pseudo-labels, balanced per class (filter_unlabel.py), written as a
// filter folder (selection.json + stats.json) named by the key of the set and the settings.
import { join } from 'node:path';
import { contentHash } from '../../util/hash.js';
import { filterAndBalance, type FilterResult } from '../filter.js';
import type { PseudoLabels } from '../artifacts/pseudo_labels.js';
import { readFilterResult, writeSelection, type FilterSettings, type Selection } from '../artifacts/selection.js';
import { existsSync } from 'node:fs';

export function filterSettings(o: Partial<FilterSettings> & Pick<FilterSettings, 'perClass' | 'seed'>): FilterSettings {
  return { threshold: 0.3, upsample: true, downsample: 'original', ...o };
}

export const filterStageDir = (genDir: string, pseudoFingerprint: string, s: FilterSettings): string =>
  join(genDir, 'filter', contentHash({ pseudoLabels: pseudoFingerprint, settings: s }));

/**
 * Filter and balance `pl` into `dir` (selection.json, stats.json); a finished folder is read back.
 * A set read from disk is filtered from its record columns: no object per image is built.
 */
export function filterStage(
  dir: string,
  pl: Pick<PseudoLabels, 'records' | 'numClasses' | 'fingerprint' | 'columns'>,
  s: FilterSettings,
): FilterResult & { selection: Selection } {
  if (existsSync(join(dir, 'selection.json')) && existsSync(join(dir, 'stats.json'))) {
    const done = readFilterResult(dir);
    if (done.selection.pseudoLabels === pl.fingerprint && contentHash(done.selection.settings) === contentHash(s)) return done;
  }
  const r = filterAndBalance(pl.columns ?? pl.records, {
    numClasses: pl.numClasses,
    perClass: s.perClass,
    threshold: s.threshold,
    upsample: s.upsample,
    downsample: s.downsample,
    seed: s.seed,
  });
  const selection = writeSelection(dir, pl.fingerprint, s, r);
  return { ...r, selection };
}
