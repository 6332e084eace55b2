// Pretrained configs: where each `arch.tag` weight set lives and how its inputs were preprocessed.
//
// The table is timm's `default_cfgs` for the architectures in variants.ts (timm/models/efficientnet.py),
// declared in timm's order because the order decides the default tag: as timm's
// `generate_default_cfgs`, the first tag *with weights* is an architecture's default (so
// `tf_efficientnet_b0` means `tf_efficientnet_b0.ns_jft_in1k` and `tf_efficientnet_l2` means
// `tf_efficientnet_l2.ns_jft_in1k_475`), and an architecture without any weights defaults to its
// first tag (`efficientnet_b6.untrained`). `hf_hub_id: 'timm/'` expands to `timm/<arch>.<tag>` as in
// timm's `register_model`.
//
// Field names are camelCase in TypeScript; toTimmDict()/pretrainedCfgFromTimmDict() convert to and
// from timm's snake_case dict (what the hub's config.json holds under `pretrained_cfg`).
import { ARCH_NAMES, type ArchName } from './variants.js';

export const IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225] as const;
export const IMAGENET_INCEPTION_MEAN = [0.5, 0.5, 0.5] as const;
export const IMAGENET_INCEPTION_STD = [0.5, 0.5, 0.5] as const;

export type Interpolation = 'bicubic' | 'bilinear' | 'nearest' | 'lanczos' | 'box' | 'hamming' | 'random';
export type CropMode = 'center' | 'squash' | 'border';
export type InputSize = readonly [number, number, number];

/** timm's PretrainedCfg (timm/models/_pretrained.py), the fields that apply here. */
export interface PretrainedCfg {
  /** Legacy download URL; '' when timm declares none (timm's `_cfg` default). */
  readonly url: string;
  readonly file?: string;
  /** Hugging Face hub repo, e.g. 'timm/tf_efficientnet_b0.ns_jft_in1k'; undefined = not on the hub. */
  readonly hfHubId?: string;
  readonly hfHubFilename?: string;
  readonly architecture: string;
  readonly tag: string;
  readonly customLoad: boolean;
  readonly inputSize: InputSize;
  readonly testInputSize?: InputSize;
  readonly minInputSize?: InputSize;
  readonly fixedInputSize: boolean;
  readonly interpolation: Interpolation;
  readonly cropPct: number;
  readonly testCropPct?: number;
  readonly cropMode: CropMode;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly numClasses: number;
  readonly labelOffset?: number;
  readonly poolSize: readonly [number, number] | null;
  readonly testPoolSize?: readonly [number, number];
  readonly firstConv: string | null;
  readonly classifier: string | null;
  readonly license?: string;
  readonly description?: string;
  readonly originUrl?: string;
  readonly paperName?: string;
  readonly paperIds?: string;
  readonly notes?: readonly string[];
}

/** True when a config points at weights (timm's `has_weights`). */
export function hasWeights(cfg: PretrainedCfg): boolean {
  return Boolean(cfg.url || cfg.file || cfg.hfHubId);
}

// timm's `_cfg` defaults for this model family plus PretrainedCfg's dataclass defaults.
type CfgDecl = Partial<Omit<PretrainedCfg, 'architecture' | 'tag'>>;
const FAMILY_DEFAULTS = {
  url: '',
  customLoad: false,
  inputSize: [3, 224, 224],
  fixedInputSize: false,
  interpolation: 'bicubic',
  cropPct: 0.875,
  cropMode: 'center',
  mean: IMAGENET_DEFAULT_MEAN,
  std: IMAGENET_DEFAULT_STD,
  numClasses: 1000,
  poolSize: [7, 7],
  firstConv: 'conv_stem',
  classifier: 'classifier',
  license: 'apache-2.0',
} as const satisfies CfgDecl;

const RW = 'https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/';
const HF = 'https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-weights/';
const HUAWEI = 'https://github.com/huawei-noah/CV-Backbones/releases/download/v1.2.0/';
const HUB = { hfHubId: 'timm/' } as const;
const INCEPTION = { mean: IMAGENET_INCEPTION_MEAN, std: IMAGENET_INCEPTION_STD } as const;
const sz = (s: number): InputSize => [3, s, s];
const pool = (p: number): readonly [number, number] => [p, p];

// [name, overrides of FAMILY_DEFAULTS], in timm's declaration order.
const DECLS: readonly (readonly [string, CfgDecl])[] = [
  ['efficientnet_b0.ra_in1k', { url: RW + 'efficientnet_b0_ra-3dd342df.pth', ...HUB }],
  ['efficientnet_b0.ra4_e3600_r224_in1k', { ...HUB, ...INCEPTION, cropPct: 0.9, testInputSize: sz(256), testCropPct: 1.0 }],
  [
    'efficientnet_b1.ra4_e3600_r240_in1k',
    { ...HUB, ...INCEPTION, inputSize: sz(240), cropPct: 0.9, poolSize: pool(8), testInputSize: sz(288), testCropPct: 1.0 },
  ],
  ['efficientnet_b1.ft_in1k', { url: RW + 'efficientnet_b1-533bc792.pth', ...HUB, testInputSize: sz(256), testCropPct: 1.0 }],
  [
    'efficientnet_b2.ra_in1k',
    {
      url: RW + 'efficientnet_b2_ra-bcdf34b7.pth',
      ...HUB,
      inputSize: sz(256),
      poolSize: pool(8),
      testInputSize: sz(288),
      testCropPct: 1.0,
    },
  ],
  [
    'efficientnet_b3.ra2_in1k',
    {
      url: RW + 'efficientnet_b3_ra2-cf984f9c.pth',
      ...HUB,
      inputSize: sz(288),
      poolSize: pool(9),
      testInputSize: sz(320),
      testCropPct: 1.0,
    },
  ],
  [
    'efficientnet_b4.ra2_in1k',
    {
      url: RW + 'efficientnet_b4_ra2_320-7eb33cd5.pth',
      ...HUB,
      inputSize: sz(320),
      poolSize: pool(10),
      testInputSize: sz(384),
      testCropPct: 1.0,
    },
  ],
  ['efficientnet_b5.sw_in12k_ft_in1k', { ...HUB, inputSize: sz(448), poolSize: pool(14), cropPct: 1.0, cropMode: 'squash' }],
  ['efficientnet_b5.sw_in12k', { ...HUB, inputSize: sz(416), poolSize: pool(13), cropPct: 0.95, numClasses: 11821 }],
  ['efficientnet_b6.untrained', { inputSize: sz(528), poolSize: pool(17), cropPct: 0.942 }],
  ['efficientnet_b7.untrained', { inputSize: sz(600), poolSize: pool(19), cropPct: 0.949 }],
  ['efficientnet_b8.untrained', { inputSize: sz(672), poolSize: pool(21), cropPct: 0.954 }],
  ['efficientnet_l2.untrained', { inputSize: sz(800), poolSize: pool(25), cropPct: 0.961 }],

  ['tf_efficientnet_b0.ns_jft_in1k', { url: RW + 'tf_efficientnet_b0_ns-c0e6a31c.pth', ...HUB, inputSize: sz(224) }],
  [
    'tf_efficientnet_b1.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b1_ns-99dd0c41.pth', ...HUB, inputSize: sz(240), poolSize: pool(8), cropPct: 0.882 },
  ],
  [
    'tf_efficientnet_b2.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b2_ns-00306e48.pth', ...HUB, inputSize: sz(260), poolSize: pool(9), cropPct: 0.89 },
  ],
  [
    'tf_efficientnet_b3.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b3_ns-9d44bf68.pth', ...HUB, inputSize: sz(300), poolSize: pool(10), cropPct: 0.904 },
  ],
  [
    'tf_efficientnet_b4.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b4_ns-d6313a46.pth', ...HUB, inputSize: sz(380), poolSize: pool(12), cropPct: 0.922 },
  ],
  [
    'tf_efficientnet_b5.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b5_ns-6f26d0cf.pth', ...HUB, inputSize: sz(456), poolSize: pool(15), cropPct: 0.934 },
  ],
  [
    'tf_efficientnet_b6.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b6_ns-51548356.pth', ...HUB, inputSize: sz(528), poolSize: pool(17), cropPct: 0.942 },
  ],
  [
    'tf_efficientnet_b7.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_b7_ns-1dbc32de.pth', ...HUB, inputSize: sz(600), poolSize: pool(19), cropPct: 0.949 },
  ],
  [
    'tf_efficientnet_l2.ns_jft_in1k_475',
    { url: RW + 'tf_efficientnet_l2_ns_475-bebbd00a.pth', ...HUB, inputSize: sz(475), poolSize: pool(15), cropPct: 0.936 },
  ],
  [
    'tf_efficientnet_l2.ns_jft_in1k',
    { url: RW + 'tf_efficientnet_l2_ns-df73bb44.pth', ...HUB, inputSize: sz(800), poolSize: pool(25), cropPct: 0.96 },
  ],

  ['tf_efficientnet_b0.ap_in1k', { url: RW + 'tf_efficientnet_b0_ap-f262efe1.pth', ...HUB, ...INCEPTION, inputSize: sz(224) }],
  [
    'tf_efficientnet_b1.ap_in1k',
    { url: RW + 'tf_efficientnet_b1_ap-44ef0a3d.pth', ...HUB, ...INCEPTION, inputSize: sz(240), poolSize: pool(8), cropPct: 0.882 },
  ],
  [
    'tf_efficientnet_b2.ap_in1k',
    { url: RW + 'tf_efficientnet_b2_ap-2f8e7636.pth', ...HUB, ...INCEPTION, inputSize: sz(260), poolSize: pool(9), cropPct: 0.89 },
  ],
  [
    'tf_efficientnet_b3.ap_in1k',
    { url: RW + 'tf_efficientnet_b3_ap-aad25bdd.pth', ...HUB, ...INCEPTION, inputSize: sz(300), poolSize: pool(10), cropPct: 0.904 },
  ],
  [
    'tf_efficientnet_b4.ap_in1k',
    { url: RW + 'tf_efficientnet_b4_ap-dedb23e6.pth', ...HUB, ...INCEPTION, inputSize: sz(380), poolSize: pool(12), cropPct: 0.922 },
  ],
  [
    'tf_efficientnet_b5.ap_in1k',
    { url: RW + 'tf_efficientnet_b5_ap-9e82fae8.pth', ...HUB, ...INCEPTION, inputSize: sz(456), poolSize: pool(15), cropPct: 0.934 },
  ],
  [
    'tf_efficientnet_b6.ap_in1k',
    { url: RW + 'tf_efficientnet_b6_ap-4ffb161f.pth', ...HUB, ...INCEPTION, inputSize: sz(528), poolSize: pool(17), cropPct: 0.942 },
  ],
  [
    'tf_efficientnet_b7.ap_in1k',
    { url: RW + 'tf_efficientnet_b7_ap-ddb28fec.pth', ...HUB, ...INCEPTION, inputSize: sz(600), poolSize: pool(19), cropPct: 0.949 },
  ],
  [
    'tf_efficientnet_b8.ap_in1k',
    { url: RW + 'tf_efficientnet_b8_ap-00e169fa.pth', ...HUB, ...INCEPTION, inputSize: sz(672), poolSize: pool(21), cropPct: 0.954 },
  ],

  [
    'tf_efficientnet_b5.ra_in1k',
    { url: RW + 'tf_efficientnet_b5_ra-9a3e5369.pth', ...HUB, inputSize: sz(456), poolSize: pool(15), cropPct: 0.934 },
  ],
  [
    'tf_efficientnet_b7.ra_in1k',
    { url: RW + 'tf_efficientnet_b7_ra-6c08e654.pth', ...HUB, inputSize: sz(600), poolSize: pool(19), cropPct: 0.949 },
  ],
  [
    'tf_efficientnet_b8.ra_in1k',
    { url: RW + 'tf_efficientnet_b8_ra-572d5dd9.pth', ...HUB, inputSize: sz(672), poolSize: pool(21), cropPct: 0.954 },
  ],

  ['tf_efficientnet_b0.aa_in1k', { url: RW + 'tf_efficientnet_b0_aa-827b6e33.pth', ...HUB, inputSize: sz(224) }],
  [
    'tf_efficientnet_b1.aa_in1k',
    { url: RW + 'tf_efficientnet_b1_aa-ea7a6ee0.pth', ...HUB, inputSize: sz(240), poolSize: pool(8), cropPct: 0.882 },
  ],
  [
    'tf_efficientnet_b2.aa_in1k',
    { url: RW + 'tf_efficientnet_b2_aa-60c94f97.pth', ...HUB, inputSize: sz(260), poolSize: pool(9), cropPct: 0.89 },
  ],
  [
    'tf_efficientnet_b3.aa_in1k',
    { url: RW + 'tf_efficientnet_b3_aa-84b4657e.pth', ...HUB, inputSize: sz(300), poolSize: pool(10), cropPct: 0.904 },
  ],
  [
    'tf_efficientnet_b4.aa_in1k',
    { url: RW + 'tf_efficientnet_b4_aa-818f208c.pth', ...HUB, inputSize: sz(380), poolSize: pool(12), cropPct: 0.922 },
  ],
  [
    'tf_efficientnet_b5.aa_in1k',
    { url: HF + 'tf_efficientnet_b5_aa-99018a74.pth', ...HUB, inputSize: sz(456), poolSize: pool(15), cropPct: 0.934 },
  ],
  [
    'tf_efficientnet_b6.aa_in1k',
    { url: RW + 'tf_efficientnet_b6_aa-80ba17e4.pth', ...HUB, inputSize: sz(528), poolSize: pool(17), cropPct: 0.942 },
  ],
  [
    'tf_efficientnet_b7.aa_in1k',
    { url: HF + 'tf_efficientnet_b7_aa-076e3472.pth', ...HUB, inputSize: sz(600), poolSize: pool(19), cropPct: 0.949 },
  ],

  ['tf_efficientnet_b0.in1k', { url: HF + 'tf_efficientnet_b0-0af12548.pth', ...HUB, inputSize: sz(224) }],
  [
    'tf_efficientnet_b1.in1k',
    { url: HF + 'tf_efficientnet_b1-5c1377c4.pth', ...HUB, inputSize: sz(240), poolSize: pool(8), cropPct: 0.882 },
  ],
  [
    'tf_efficientnet_b2.in1k',
    { url: HF + 'tf_efficientnet_b2-e393ef04.pth', ...HUB, inputSize: sz(260), poolSize: pool(9), cropPct: 0.89 },
  ],
  [
    'tf_efficientnet_b3.in1k',
    { url: HF + 'tf_efficientnet_b3-e3bd6955.pth', ...HUB, inputSize: sz(300), poolSize: pool(10), cropPct: 0.904 },
  ],
  [
    'tf_efficientnet_b4.in1k',
    { url: HF + 'tf_efficientnet_b4-74ee3bed.pth', ...HUB, inputSize: sz(380), poolSize: pool(12), cropPct: 0.922 },
  ],
  [
    'tf_efficientnet_b5.in1k',
    { url: HF + 'tf_efficientnet_b5-c6949ce9.pth', ...HUB, inputSize: sz(456), poolSize: pool(15), cropPct: 0.934 },
  ],

  ['tinynet_a.in1k', { inputSize: sz(192), poolSize: pool(6), url: HUAWEI + 'tinynet_a.pth', ...HUB }],
  ['tinynet_b.in1k', { inputSize: sz(188), poolSize: pool(6), url: HUAWEI + 'tinynet_b.pth', ...HUB }],
  ['tinynet_c.in1k', { inputSize: sz(184), poolSize: pool(6), url: HUAWEI + 'tinynet_c.pth', ...HUB }],
  ['tinynet_d.in1k', { inputSize: sz(152), poolSize: pool(5), url: HUAWEI + 'tinynet_d.pth', ...HUB }],
  ['tinynet_e.in1k', { inputSize: sz(106), poolSize: pool(4), url: HUAWEI + 'tinynet_e.pth', ...HUB }],

  ['test_efficientnet.r160_in1k', { ...HUB, inputSize: sz(160), poolSize: pool(5), cropPct: 0.95 }],
];

/**
 * timm's deprecated names for these architectures (`register_model_deprecations` in efficientnet.py):
 * old name -> current `arch.tag` (or bare arch, which then takes its default tag).
 */
export const LEGACY_ALIASES: Readonly<Record<string, string>> = {
  tf_efficientnet_b0_ap: 'tf_efficientnet_b0.ap_in1k',
  tf_efficientnet_b1_ap: 'tf_efficientnet_b1.ap_in1k',
  tf_efficientnet_b2_ap: 'tf_efficientnet_b2.ap_in1k',
  tf_efficientnet_b3_ap: 'tf_efficientnet_b3.ap_in1k',
  tf_efficientnet_b4_ap: 'tf_efficientnet_b4.ap_in1k',
  tf_efficientnet_b5_ap: 'tf_efficientnet_b5.ap_in1k',
  tf_efficientnet_b6_ap: 'tf_efficientnet_b6.ap_in1k',
  tf_efficientnet_b7_ap: 'tf_efficientnet_b7.ap_in1k',
  tf_efficientnet_b8_ap: 'tf_efficientnet_b8.ap_in1k',
  tf_efficientnet_b0_ns: 'tf_efficientnet_b0.ns_jft_in1k',
  tf_efficientnet_b1_ns: 'tf_efficientnet_b1.ns_jft_in1k',
  tf_efficientnet_b2_ns: 'tf_efficientnet_b2.ns_jft_in1k',
  tf_efficientnet_b3_ns: 'tf_efficientnet_b3.ns_jft_in1k',
  tf_efficientnet_b4_ns: 'tf_efficientnet_b4.ns_jft_in1k',
  tf_efficientnet_b5_ns: 'tf_efficientnet_b5.ns_jft_in1k',
  tf_efficientnet_b6_ns: 'tf_efficientnet_b6.ns_jft_in1k',
  tf_efficientnet_b7_ns: 'tf_efficientnet_b7.ns_jft_in1k',
  tf_efficientnet_l2_ns_475: 'tf_efficientnet_l2.ns_jft_in1k_475',
  tf_efficientnet_l2_ns: 'tf_efficientnet_l2.ns_jft_in1k',
  efficientnet_b2a: 'efficientnet_b2',
  efficientnet_b3a: 'efficientnet_b3',
};

/** All pretrained configs of one architecture, tags in timm's priority order (first = default). */
export interface ArchPretrained {
  readonly arch: ArchName;
  readonly tags: readonly string[];
  readonly cfgs: ReadonlyMap<string, PretrainedCfg>;
  readonly defaultTag: string;
  /** At least one tag has weights (timm's `is_pretrained`). */
  readonly isPretrained: boolean;
}

function buildTable(): ReadonlyMap<ArchName, ArchPretrained> {
  const tags = new Map<string, string[]>();
  const cfgs = new Map<string, Map<string, PretrainedCfg>>();
  const pretrained = new Set<string>();
  for (const [name, decl] of DECLS) {
    const dot = name.indexOf('.');
    const arch = name.slice(0, dot);
    const tag = name.slice(dot + 1);
    const base = { ...FAMILY_DEFAULTS, ...decl };
    const cfg: PretrainedCfg = {
      ...base,
      architecture: arch,
      tag,
      ...(base.hfHubId === 'timm/' ? { hfHubId: `timm/${name}` } : {}),
    };
    const t = tags.get(arch) ?? [];
    const c = cfgs.get(arch) ?? new Map<string, PretrainedCfg>();
    // generate_default_cfgs: the first tag with weights jumps to the front; every other tag queues up.
    if (hasWeights(cfg) && !pretrained.has(arch)) t.unshift(tag);
    else t.push(tag);
    if (hasWeights(cfg)) pretrained.add(arch);
    c.set(tag, Object.freeze(cfg));
    tags.set(arch, t);
    cfgs.set(arch, c);
  }
  const out = new Map<ArchName, ArchPretrained>();
  for (const arch of ARCH_NAMES) {
    const t = tags.get(arch);
    const c = cfgs.get(arch);
    if (!t || !c || t.length === 0) throw new Error(`internal: no pretrained cfg declared for ${arch}`);
    out.set(arch, { arch, tags: t, cfgs: c, defaultTag: t[0]!, isPretrained: pretrained.has(arch) });
  }
  for (const arch of tags.keys()) {
    if (!out.has(arch as ArchName)) throw new Error(`internal: pretrained cfg for unregistered arch ${arch}`);
  }
  return out;
}

/** Pretrained configs of every registered architecture. */
export const PRETRAINED: ReadonlyMap<ArchName, ArchPretrained> = buildTable();

/** The pretrained entry of an architecture (every registered architecture has one). */
export function archPretrained(arch: ArchName): ArchPretrained {
  const p = PRETRAINED.get(arch);
  if (!p) throw new Error(`internal: ${arch} has no pretrained table entry`);
  return p;
}

// ---------------------------------------------------------------------------------------------
// timm dict <-> PretrainedCfg

// Every PretrainedCfg field with timm's key, in timm's dataclass order (that order is what
// `pretrained_cfg.to_dict()` and the hub's config.json use).
const FIELD_MAP: readonly (readonly [keyof PretrainedCfg, string])[] = [
  ['url', 'url'],
  ['file', 'file'],
  ['hfHubId', 'hf_hub_id'],
  ['hfHubFilename', 'hf_hub_filename'],
  ['architecture', 'architecture'],
  ['tag', 'tag'],
  ['customLoad', 'custom_load'],
  ['inputSize', 'input_size'],
  ['testInputSize', 'test_input_size'],
  ['minInputSize', 'min_input_size'],
  ['fixedInputSize', 'fixed_input_size'],
  ['interpolation', 'interpolation'],
  ['cropPct', 'crop_pct'],
  ['testCropPct', 'test_crop_pct'],
  ['cropMode', 'crop_mode'],
  ['mean', 'mean'],
  ['std', 'std'],
  ['numClasses', 'num_classes'],
  ['labelOffset', 'label_offset'],
  ['poolSize', 'pool_size'],
  ['testPoolSize', 'test_pool_size'],
  ['firstConv', 'first_conv'],
  ['classifier', 'classifier'],
  ['license', 'license'],
  ['description', 'description'],
  ['originUrl', 'origin_url'],
  ['paperName', 'paper_name'],
  ['paperIds', 'paper_ids'],
  ['notes', 'notes'],
];
const SOURCE_KEYS = new Set(['url', 'file', 'hf_hub_id', 'hf_hub_filename']);
// timm's filter_pretrained_cfg keeps these even when null.
const KEEP_NULL = new Set(['pool_size', 'first_conv', 'classifier']);

/**
 * timm's `pretrained_cfg.to_dict()` (filter_pretrained_cfg): snake_case keys in timm's order, unset
 * fields dropped except pool_size/first_conv/classifier; `removeSource` drops the weight locations
 * (what timm writes into a saved model's config.json).
 */
export function toTimmDict(cfg: PretrainedCfg, opts: { removeSource?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [camel, snake] of FIELD_MAP) {
    if (opts.removeSource && SOURCE_KEYS.has(snake)) continue;
    const v = cfg[camel];
    if (v === undefined || v === null) {
      if (KEEP_NULL.has(snake)) out[snake] = null;
      continue;
    }
    out[snake] = Array.isArray(v) ? [...(v as readonly unknown[])] : v;
  }
  return out;
}

export class PretrainedCfgError extends Error {
  readonly code = 'E_PRETRAINED_CFG';
  constructor(detail: string) {
    super(detail);
    this.name = 'PretrainedCfgError';
  }
}

/**
 * Parse timm's snake_case dict (e.g. config.json's `pretrained_cfg`) onto a base config. Keys timm
 * may add in later versions that we do not model are returned in `ignored`, not silently dropped.
 */
export function pretrainedCfgFromTimmDict(
  dict: Readonly<Record<string, unknown>>,
  base: PretrainedCfg,
): { cfg: PretrainedCfg; ignored: string[] } {
  const bySnake = new Map(FIELD_MAP.map(([c, s]) => [s, c] as const));
  const out: Record<string, unknown> = { ...base };
  const ignored: string[] = [];
  for (const [k, v] of Object.entries(dict)) {
    const camel = bySnake.get(k);
    if (camel === undefined) {
      ignored.push(k);
      continue;
    }
    if (v === null) {
      if (KEEP_NULL.has(k)) out[camel] = null;
      else delete out[camel];
      continue;
    }
    const expectArray = ['input_size', 'test_input_size', 'min_input_size', 'mean', 'std', 'pool_size', 'test_pool_size', 'notes'].includes(
      k,
    );
    if (expectArray !== Array.isArray(v)) {
      throw new PretrainedCfgError(`pretrained_cfg.${k}: expected ${expectArray ? 'a list' : 'a scalar'}, got ${JSON.stringify(v)}`);
    }
    out[camel] = v;
  }
  return { cfg: Object.freeze(out as unknown as PretrainedCfg), ignored };
}

/**
 * The hub's config.json for a model, as timm's `save_config_for_hf` writes it: architecture,
 * num_classes, num_features, then pretrained_cfg without its source fields and without `architecture`.
 * (timm adds global_pool only when the model's attribute is a string; EfficientNet's is a module, so
 * it never appears.) Written next to a saved model.safetensors, this lets timm load the model.
 */
export function toHubConfig(
  cfg: PretrainedCfg,
  model: { readonly numClasses: number; readonly numFeatures: number },
): Record<string, unknown> {
  const pretrainedCfg = toTimmDict(cfg, { removeSource: true });
  delete pretrainedCfg['architecture'];
  return {
    architecture: cfg.architecture,
    num_classes: model.numClasses,
    num_features: model.numFeatures,
    pretrained_cfg: pretrainedCfg,
  };
}
