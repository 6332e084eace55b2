// Model names as timm spells them: `arch`, `arch.tag`, and timm's deprecated aliases; listing with
// fnmatch-style wildcards and timm's natural sort (timm/models/_registry.py); and an error for unknown
// names that suggests the closest registered ones instead of timm's bare `Unknown model (...)`.
import { archPretrained, hasWeights, LEGACY_ALIASES, PRETRAINED, type PretrainedCfg } from './pretrained.js';
import { ARCH_NAMES, isArchName, type ArchName } from './variants.js';

export class UnknownModelError extends Error {
  readonly code = 'E_UNKNOWN_MODEL';
  constructor(
    readonly modelName: string,
    readonly suggestions: readonly string[],
  ) {
    const hint = suggestions.length > 0 ? ` Did you mean: ${suggestions.join(', ')}?` : '';
    super(`Unknown model "${modelName}".${hint} (listModels() or \`noisy-student models\` lists every name.)`);
    this.name = 'UnknownModelError';
  }
}

export class UnknownTagError extends Error {
  readonly code = 'E_UNKNOWN_TAG';
  constructor(
    readonly arch: string,
    readonly tag: string,
    readonly available: readonly string[],
  ) {
    super(`Unknown pretrained tag "${tag}" for ${arch}; it has: ${available.join(', ')}`);
    this.name = 'UnknownTagError';
  }
}

/** Split 'arch.tag' at the first dot (timm's split_model_name_tag); tag is '' when absent. */
export function splitTag(name: string): { arch: string; tag: string } {
  const dot = name.indexOf('.');
  return dot < 0 ? { arch: name, tag: '' } : { arch: name.slice(0, dot), tag: name.slice(dot + 1) };
}

export interface ResolvedModelName {
  /** The name as given. */
  readonly requested: string;
  readonly arch: ArchName;
  /** The pretrained tag in force: the explicit one, or the architecture's default. */
  readonly tag: string;
  /** Whether the tag was named (by the caller or by the alias) rather than defaulted. */
  readonly explicitTag: boolean;
  /** The current name a deprecated alias maps to (e.g. 'tf_efficientnet_b0.ns_jft_in1k'), if one was used. */
  readonly aliasOf?: string;
  readonly pretrainedCfg: PretrainedCfg;
  /** `arch.tag`, the canonical full name. */
  readonly fullName: string;
}

/**
 * Resolve a model name (arch, arch.tag or legacy alias) to its architecture and pretrained config.
 * @example resolveModelName('tf_efficientnet_b0_ns').fullName // 'tf_efficientnet_b0.ns_jft_in1k'
 */
export function resolveModelName(name: string): ResolvedModelName {
  const alias = Object.prototype.hasOwnProperty.call(LEGACY_ALIASES, name) ? LEGACY_ALIASES[name] : undefined;
  const target = alias ?? name;
  const { arch, tag } = splitTag(target);
  if (!isArchName(arch)) throw new UnknownModelError(name, closestModelNames(name));
  const p = archPretrained(arch);
  if (tag && !p.cfgs.has(tag)) throw new UnknownTagError(arch, tag, p.tags);
  const useTag = tag || p.defaultTag;
  return {
    requested: name,
    arch,
    tag: useTag,
    explicitTag: tag !== '',
    ...(alias !== undefined ? { aliasOf: alias } : {}),
    pretrainedCfg: p.cfgs.get(useTag)!,
    fullName: `${arch}.${useTag}`,
  };
}

/** Whether `name` resolves to a config with weights (timm's is_model_pretrained, aliases included). */
export function isModelPretrained(name: string): boolean {
  try {
    return hasWeights(resolveModelName(name).pretrainedCfg);
  } catch (e) {
    if (e instanceof UnknownModelError || e instanceof UnknownTagError) return false;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// listModels

/**
 * Translate an fnmatch pattern (Python's, case-sensitive as on POSIX) to a RegExp:
 * `*` any run, `?` one char, `[seq]` / `[!seq]` a char class; everything else is literal.
 */
export function fnmatchToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        re += '\\[';
      } else {
        let body = pattern.slice(i + 1, j);
        const neg = body.startsWith('!');
        if (neg) body = body.slice(1);
        body = body.replace(/\\/g, '\\\\').replace(/\^/g, '\\^').replace(/\[/g, '\\[');
        re += `[${neg ? '^' : ''}${body}]`;
        i = j;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** timm's _natural_key: digit runs compare as numbers ('b2' < 'b10'), text case-insensitively. */
export function naturalCompare(a: string, b: string): number {
  const ka = a.toLowerCase().split(/(\d+)/);
  const kb = b.toLowerCase().split(/(\d+)/);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const x = ka[i]!;
    const y = kb[i]!;
    if (i % 2 === 1) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return ka.length - kb.length;
}

export interface ListModelsOptions {
  /** Only names with weights (timm's `pretrained=True`). */
  readonly pretrained?: boolean;
  /** List `arch.tag` names; defaults to `pretrained` (as timm). */
  readonly includeTags?: boolean;
  /** Wildcard patterns to drop after filtering. */
  readonly exclude?: string | readonly string[];
}

// timm's _expand_filter: a pattern without a tag also matches that pattern's tagged names.
function expandFilter(f: string): string[] {
  return splitTag(f).tag ? [f] : [`${f}.*`, f];
}

/**
 * List registered model names matching fnmatch-style wildcards, sorted like timm (natural sort).
 * Legacy aliases are never listed (timm hides deprecated names too).
 * @example listModels('tf_efficientnet_b*', { pretrained: true }) // ['tf_efficientnet_b0.aa_in1k', ...]
 */
export function listModels(filter: string | readonly string[] = '', opts: ListModelsOptions = {}): string[] {
  const pretrained = opts.pretrained ?? false;
  const includeTags = opts.includeTags ?? pretrained;
  let include = typeof filter === 'string' ? (filter ? [filter] : []) : [...filter];
  let exclude = opts.exclude === undefined ? [] : typeof opts.exclude === 'string' ? [opts.exclude] : [...opts.exclude];

  // Which names carry weights: bare arch names when their default tag has weights, and every arch.tag with weights.
  const withWeights = new Set<string>();
  let all: string[];
  if (includeTags) {
    all = [];
    for (const arch of ARCH_NAMES) {
      for (const tag of archPretrained(arch).tags) all.push(`${arch}.${tag}`);
    }
    include = include.flatMap(expandFilter);
    exclude = exclude.flatMap(expandFilter);
  } else {
    all = [...ARCH_NAMES];
  }
  for (const [arch, p] of PRETRAINED) {
    if (hasWeights(p.cfgs.get(p.defaultTag)!)) withWeights.add(arch);
    for (const [tag, cfg] of p.cfgs) if (hasWeights(cfg)) withWeights.add(`${arch}.${tag}`);
  }

  let models = include.length === 0 ? new Set(all) : new Set<string>();
  for (const f of include) {
    const re = fnmatchToRegExp(f);
    for (const m of all) if (re.test(m)) models.add(m);
  }
  for (const f of exclude) {
    const re = fnmatchToRegExp(f);
    models = new Set([...models].filter((m) => !re.test(m)));
  }
  if (pretrained) models = new Set([...models].filter((m) => withWeights.has(m)));
  return [...models].sort(naturalCompare);
}

// ---------------------------------------------------------------------------------------------
// closest names

/** Levenshtein distance (insert, delete, substitute each cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Registered names (architectures, `arch.tag` names and aliases) closest to `name` by edit distance,
 * nearest first, ties in natural order; only plausible ones (distance up to a third of the length).
 */
export function closestModelNames(name: string, limit = 5): string[] {
  const { tag } = splitTag(name);
  const candidates = new Set<string>(tag ? [] : [...ARCH_NAMES, ...Object.keys(LEGACY_ALIASES)]);
  if (tag) for (const [arch, p] of PRETRAINED) for (const t of p.tags) candidates.add(`${arch}.${t}`);
  const maxDist = Math.max(2, Math.floor(name.length / 3));
  return [...candidates]
    .map((c) => ({ c, d: editDistance(name, c) }))
    .filter((x) => x.d <= maxDist)
    .sort((x, y) => x.d - y.d || naturalCompare(x.c, y.c))
    .slice(0, limit)
    .map((x) => x.c);
}
