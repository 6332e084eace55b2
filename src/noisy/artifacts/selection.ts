// A filter output folder: selection.json (the balanced set: ids with repeats, what a student trains
// on, and the kept entries) and stats.json (per-class counts before and after, the threshold
// found). `filter` and `run` write the same two files for the same pseudo-labels and settings.
import { join } from 'node:path';
import { contentHash } from '../../util/hash.js';
import type { FilterEntry, FilterResult, FilterStats } from '../filter.js';
import { readArtifact, writeArtifact } from './format.js';

export interface FilterSettings {
  perClass: number;
  threshold: number;
  upsample: boolean;
  downsample: 'original' | 'exact-topk';
  seed: number;
}

export interface Selection {
  /** Fingerprint of the pseudo-label set filtered. */
  pseudoLabels: string;
  settings: FilterSettings;
  /** Fingerprint of ids + settings: what a student record depends on. */
  fingerprint: string;
  ids: number[];
  entries: FilterEntry[];
}

const REDO = 'run filter again into a new output folder';

export function writeSelection(dir: string, pseudoLabels: string, settings: FilterSettings, r: FilterResult): Selection {
  const sel: Selection = {
    pseudoLabels,
    settings,
    fingerprint: contentHash({ pseudoLabels, settings, ids: r.ids }),
    ids: r.ids,
    entries: r.entries,
  };
  writeArtifact(join(dir, 'selection.json'), 'selection', sel);
  writeArtifact(join(dir, 'stats.json'), 'filter-stats', { pseudoLabels, settings, stats: r.stats });
  return sel;
}

export function readSelection(dir: string): Selection {
  return readArtifact<Selection>(join(dir, 'selection.json'), 'selection', REDO);
}

export function readFilterStats(dir: string): { pseudoLabels: string; settings: FilterSettings; stats: FilterStats } {
  return readArtifact(join(dir, 'stats.json'), 'filter-stats', REDO);
}

/** The selection and stats of a filter folder as filterAndBalance returned them. */
export function readFilterResult(dir: string): FilterResult & { selection: Selection } {
  const selection = readSelection(dir);
  return { ids: selection.ids, entries: selection.entries, stats: readFilterStats(dir).stats, selection };
}
