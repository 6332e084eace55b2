// Class indices by name. A model knows its classes by the names it trained on (label_names in its
// config.json); a validation or test folder numbers its own classes by sorting them, so [a, c]
// gives c the index 1 where the model has it at 2. Mapping by name keeps every score honest: a
// class the model never saw is an error (its images would count as wrong against some other
// class), a class the set lacks is only reported (the score is over the classes it has).
import { DatasetError, type ImageDataset, UNLABELED } from './dataset.js';

export interface ClassMapping {
  /** `ds` with labels in `target`'s indices (`ds` itself when the names already line up). */
  readonly dataset: ImageDataset;
  /** Classes of `target` without an image in `ds`. */
  readonly missing: readonly string[];
}

/** Relabel `ds` (which has class names) to the indices of `target`; `what` names the set in messages. */
export function mapClassesByName(ds: ImageDataset, target: readonly string[], what: string): ClassMapping {
  const own = ds.classes;
  if (!own) throw new DatasetError(`${what} has no class names to match with the model's classes (${target.join(', ')})`);
  const counts = new Array<number>(own.length).fill(0);
  for (let i = 0; i < ds.length; i++) {
    const l = ds.label(i);
    if (l !== UNLABELED && l >= 0 && l < own.length) counts[l]!++;
  }
  const toIdx = new Map(target.map((c, i) => [c, i] as const));
  // Classes with images only: an empty folder of another class is reported where the set is read.
  const extra = own.filter((c, i) => counts[i]! > 0 && !toIdx.has(c));
  if (extra.length > 0)
    throw new DatasetError(
      `${what} has images of ${extra.length === 1 ? 'a class' : 'classes'} the model was not trained on: ` +
        `${extra.map((c) => `"${c}"`).join(', ')} (the model's classes: ${target.join(', ')}); remove or rename ` +
        (extra.length === 1 ? 'that folder' : 'those folders'),
    );
  const present = new Set(own.filter((_, i) => counts[i]! > 0));
  const missing = target.filter((c) => !present.has(c));
  const same = own.length === target.length && own.every((c, i) => c === target[i]);
  if (same) return { dataset: ds, missing };
  const remap = Int32Array.from(own, (c) => toIdx.get(c) ?? UNLABELED);
  const dataset: ImageDataset = {
    length: ds.length,
    classes: target,
    label: (i) => {
      const l = ds.label(i);
      return l === UNLABELED ? l : remap[l]!;
    },
    source: (i) => ds.source(i),
  };
  return { dataset, missing };
}
