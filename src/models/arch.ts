// timm's EfficientNet block-string grammar ('ir_r2_k3_s2_e6_c24_se0.25'), decoded into a typed union.
//
// The grammar is timm's `_decode_block_str` (timm/models/_efficientnet_builder.py): a block type, then
// `_`-separated options in any order. We accept every option timm gives a meaning to, and differ from
// timm on purpose where timm is silent about mistakes: an unknown option, an unknown activation, a
// duplicated option, a stride other than 1 or 2 (timm only asserts that later, in the builder) or a
// malformed number is an ArchStringError naming the offending token, instead of being skipped.
//
// Options (timm's letters):
//   r<int>      repeats                         k<ks>   depthwise / main kernel ('3' or mixed '3.5.7')
//   s<1|2>      stride of the first repeat      e<num>  expansion ratio ('6', '4.5', '3.67')
//   c<int>      output channels (before width scaling)
//   se<num>     squeeze-excite ratio (relative to block input chs in EfficientNet, see builder_spec.ts)
//   a<ks>       expansion (first pointwise) conv kernel; for 'uir' the leading depthwise kernel (0 = none)
//   p<ks>       projection (last pointwise) conv kernel; for 'uir' the trailing depthwise kernel (0 = none)
//   n<act>      activation override: re (relu), r6 (relu6), hs (hard_swish), sw (swish/SiLU), mi (mish)
//   fc<int>     'er' only: force the input chs used for the expansion width (TF EdgeTPU quirk)
//   gs<int>     group size of the grouped conv (1 = depthwise)
//   cc<int>     'ir' only: CondConv experts
//   d<int>      'ds'/'ir': space-to-depth when > 0; 'mha'/'mqa': key/value dim
//   h<int>      'mha'/'mqa': heads              v<int>  'mha'/'mqa': key/value stride
//   noskip      no residual even when shapes allow; skip: 'cn' residual when shapes allow
//
// encodeBlock writes options in one canonical order (the order timm's EfficientNet, MixNet and
// MobileNet-V4 definitions use), so encodeBlock(decodeBlock(s)) === s for canonical strings and
// decodeBlock(encodeBlock(b)) deep-equals b for every block.

/** A kernel size: one int, or a list for MixNet's mixed-kernel convs ('3.5.7'). */
export type KernelSize = number | readonly number[];

/** timm's short activation codes for the `n` option. */
export type ActCode = 're' | 'r6' | 'hs' | 'sw' | 'mi';

/** timm's activation names for each `n` code (what `get_act_layer` receives). */
export const ACT_CODE_NAMES: Readonly<Record<ActCode, string>> = {
  re: 'relu',
  r6: 'relu6',
  hs: 'hard_swish',
  sw: 'swish',
  mi: 'mish',
};

export type BlockKind = BlockSpec['kind'];

interface BlockBase {
  /** Number of repeats of this block in its stage (before depth scaling). */
  readonly repeats: number;
  /** Stride of the first repeat; later repeats always use stride 1. */
  readonly stride: 1 | 2;
  /** Output channels before the width multiplier. */
  readonly outChs: number;
  /** Activation override (`n`); undefined means the model's default activation. */
  readonly act?: ActCode;
  /** Group size of the grouped conv (`gs`); undefined means the block type's default. */
  readonly groupSize?: number;
}

/** Depthwise-separable block ('ds'), or with an activation after the pointwise conv ('dsa'). */
export interface DsBlockSpec extends BlockBase {
  readonly kind: 'ds' | 'dsa';
  readonly dwKernel: KernelSize;
  readonly pwKernel: KernelSize;
  readonly seRatio: number;
  /** 'dsa' never has a residual in timm, whatever the string says; this is the `noskip` token only. */
  readonly noskip: boolean;
  readonly spaceToDepth: boolean;
  /** timm's own strings write `e1` on ds blocks although the block has no expansion; kept to round-trip. */
  readonly expRatio?: 1;
}

/** Inverted residual (MBConv) block. */
export interface IrBlockSpec extends BlockBase {
  readonly kind: 'ir';
  readonly dwKernel: KernelSize;
  readonly expKernel: KernelSize;
  readonly pwKernel: KernelSize;
  readonly expRatio: number;
  readonly seRatio: number;
  readonly noskip: boolean;
  readonly spaceToDepth: boolean;
  /** CondConv experts (`cc`); undefined for a plain InvertedResidual. */
  readonly numExperts?: number;
}

/** Edge residual (FusedMBConv) block. */
export interface ErBlockSpec extends BlockBase {
  readonly kind: 'er';
  readonly expKernel: KernelSize;
  readonly pwKernel: KernelSize;
  readonly expRatio: number;
  /** `fc`: input chs to size the expansion from instead of the real ones; 0 = off. */
  readonly forceInChs: number;
  readonly seRatio: number;
  readonly noskip: boolean;
}

/** Conv + BN + act block, with a residual only when `skip` is given. */
export interface CnBlockSpec extends BlockBase {
  readonly kind: 'cn';
  readonly kernel: number;
  readonly skip: boolean;
  /** timm's own strings write `e1` on cn blocks; it has no effect; kept to round-trip. */
  readonly expRatio?: 1;
}

/** MobileNet-V4 universal inverted residual. Kernels of 0 mean "no such depthwise conv". */
export interface UirBlockSpec extends BlockBase {
  readonly kind: 'uir';
  readonly dwKernelStart: KernelSize;
  readonly dwKernelMid: KernelSize;
  readonly dwKernelEnd: KernelSize;
  readonly expRatio: number;
  readonly seRatio: number;
  readonly noskip: boolean;
}

/** MobileNet-V4 attention blocks: multi-head ('mha') or multi-query ('mqa'). */
export interface AttnBlockSpec extends BlockBase {
  readonly kind: 'mha' | 'mqa';
  readonly dwKernel: KernelSize;
  readonly numHeads: number;
  /** Key and value dim (`d`; timm uses one value for both). */
  readonly kvDim: number;
  readonly kvStride: number;
  readonly noskip: boolean;
}

export type BlockSpec = DsBlockSpec | IrBlockSpec | ErBlockSpec | CnBlockSpec | UirBlockSpec | AttnBlockSpec;

/** An arch definition: stages, each a list of block strings (timm's `arch_def`). */
export type ArchDef = readonly (readonly string[])[];

export class ArchStringError extends Error {
  readonly code = 'E_ARCH_STRING';
  constructor(
    readonly archString: string,
    readonly token: string,
    readonly detail: string,
  ) {
    super(`Invalid arch string "${archString}": token "${token}": ${detail}`);
    this.name = 'ArchStringError';
  }
}

const KINDS = ['ds', 'dsa', 'ir', 'er', 'cn', 'uir', 'mha', 'mqa'] as const;
const ACT_CODES = Object.keys(ACT_CODE_NAMES) as ActCode[];

// Which options each block type gives a meaning to (timm reads only these for that type; it silently
// ignores the rest, we reject them). `e` on ds/cn is tolerated because timm's own strings carry `e1`.
const ALLOWED: Readonly<Record<BlockKind, ReadonlySet<string>>> = {
  ds: new Set(['r', 'k', 'p', 's', 'e', 'c', 'gs', 'se', 'd', 'n']),
  dsa: new Set(['r', 'k', 'p', 's', 'e', 'c', 'gs', 'se', 'd', 'n']),
  ir: new Set(['r', 'k', 'a', 'p', 's', 'e', 'c', 'gs', 'se', 'cc', 'd', 'n']),
  er: new Set(['r', 'k', 'p', 's', 'e', 'c', 'fc', 'gs', 'se', 'n']),
  cn: new Set(['r', 'k', 's', 'e', 'c', 'gs', 'n']),
  uir: new Set(['r', 'a', 'k', 'p', 's', 'e', 'c', 'gs', 'se', 'n']),
  mha: new Set(['r', 'k', 'h', 's', 'v', 'd', 'c', 'gs', 'n']),
  mqa: new Set(['r', 'k', 'h', 's', 'v', 'd', 'c', 'gs', 'n']),
};

interface Token {
  readonly key: string;
  readonly value: string;
  readonly raw: string;
}

function isKind(s: string): s is BlockKind {
  return (KINDS as readonly string[]).includes(s);
}

/**
 * Decode one block string.
 * @example decodeBlock('ir_r2_k3_s2_e6_c24_se0.25')
 * // { kind: 'ir', repeats: 2, dwKernel: 3, stride: 2, expRatio: 6, outChs: 24, seRatio: 0.25, ... }
 */
export function decodeBlock(src: string): BlockSpec {
  const [kindTok = '', ...rest] = src.split('_');
  if (!isKind(kindTok)) {
    throw new ArchStringError(src, kindTok, `unknown block type; expected one of ${KINDS.join(', ')}`);
  }
  const kind: BlockKind = kindTok;
  const opts = new Map<string, Token>();
  let skipFlag: boolean | undefined;
  let skipRaw = '';
  for (const raw of rest) {
    if (raw === 'noskip' || raw === 'skip') {
      if (skipFlag !== undefined) throw new ArchStringError(src, raw, `conflicts with earlier "${skipRaw}"`);
      skipFlag = raw === 'skip';
      skipRaw = raw;
      continue;
    }
    let key: string;
    let value: string;
    if (raw.startsWith('n')) {
      // timm tests the `n` prefix before numeric options, so `n` can never be a numeric key.
      key = 'n';
      value = raw.slice(1);
      if (!(ACT_CODES as string[]).includes(value)) {
        throw new ArchStringError(src, raw, `unknown activation "${value}"; expected one of ${ACT_CODES.join(', ')}`);
      }
    } else {
      // timm splits each token at its first digit: 'se0.25' -> ('se', '0.25'), 'k3.5.7' -> ('k', '3.5.7').
      const m = /^([a-z]+)(\d.*)$/.exec(raw);
      if (!m) throw new ArchStringError(src, raw, 'expected <key><number>, e.g. "k3" or "se0.25", or noskip/skip');
      key = m[1]!;
      value = m[2]!;
    }
    if (!ALLOWED[kind].has(key)) {
      throw new ArchStringError(src, raw, `option "${key}" is not valid for "${kind}" blocks`);
    }
    const prev = opts.get(key);
    if (prev) throw new ArchStringError(src, raw, `duplicate option "${key}" (already "${prev.raw}")`);
    opts.set(key, { key, value, raw });
  }
  if (skipFlag === true && kind !== 'cn') {
    throw new ArchStringError(src, 'skip', `"skip" only applies to cn blocks (others have a residual by default)`);
  }

  const tok = (key: string): Token => {
    const t = opts.get(key);
    if (!t) throw new ArchStringError(src, key, `missing required option "${key}"`);
    return t;
  };
  const int = (t: Token, min: number): number => {
    if (!/^\d+$/.test(t.value)) throw new ArchStringError(src, t.raw, 'expected an integer');
    const v = Number(t.value);
    if (v < min) throw new ArchStringError(src, t.raw, `must be >= ${min}`);
    return v;
  };
  const num = (t: Token): number => {
    if (!/^\d+(\.\d+)?$/.test(t.value)) throw new ArchStringError(src, t.raw, 'expected a number like 6 or 0.25');
    return Number(t.value);
  };
  const ks = (t: Token, min: number): KernelSize => {
    if (!/^\d+(\.\d+)*$/.test(t.value)) throw new ArchStringError(src, t.raw, 'expected a kernel size like 3 or 3.5.7');
    const parts = t.value.split('.').map(Number);
    for (const p of parts) if (p < min) throw new ArchStringError(src, t.raw, `kernel sizes must be >= ${min}`);
    return parts.length === 1 ? parts[0]! : parts;
  };
  const optInt = (key: string, min: number, dflt: number): number => {
    const t = opts.get(key);
    return t ? int(t, min) : dflt;
  };
  const optKs = (key: string, min: number, dflt: KernelSize): KernelSize => {
    const t = opts.get(key);
    return t ? ks(t, min) : dflt;
  };
  const seRatio = (): number => {
    const t = opts.get('se');
    return t ? num(t) : 0;
  };
  const expRatio = (): number => {
    const t = tok('e');
    const v = num(t);
    if (v <= 0) throw new ArchStringError(src, t.raw, 'expansion ratio must be > 0');
    return v;
  };
  // ds and cn have no expansion; timm ignores `e` there, we accept only the harmless `e1` it writes.
  const e1Only = (): { expRatio?: 1 } => {
    const t = opts.get('e');
    if (!t) return {};
    if (num(t) !== 1) throw new ArchStringError(src, t.raw, `"${kind}" blocks have no expansion; only e1 is accepted`);
    if (t.value !== '1') throw new ArchStringError(src, t.raw, 'write the no-op expansion as "e1"');
    return { expRatio: 1 };
  };

  // timm treats any d > 0 as "space-to-depth on"; only d0/d1 are meaningful, so only they are accepted.
  const s2d = (): boolean => {
    const t = opts.get('d');
    if (!t) return false;
    const v = int(t, 0);
    if (v > 1) throw new ArchStringError(src, t.raw, 'space-to-depth flag must be d0 or d1');
    return v === 1;
  };

  const sTok = tok('s');
  const sVal = int(sTok, 0);
  if (sVal !== 1 && sVal !== 2) throw new ArchStringError(src, sTok.raw, 'stride must be 1 or 2');
  const base: BlockBase = {
    repeats: int(tok('r'), 1),
    stride: sVal,
    outChs: int(tok('c'), 1),
    ...(opts.has('n') ? { act: opts.get('n')!.value as ActCode } : {}),
    ...(opts.has('gs') ? { groupSize: int(opts.get('gs')!, 1) } : {}),
  };
  const noskip = skipFlag === false;

  switch (kind) {
    case 'ds':
    case 'dsa':
      return {
        kind,
        ...base,
        dwKernel: ks(tok('k'), 1),
        pwKernel: optKs('p', 1, 1),
        seRatio: seRatio(),
        noskip,
        spaceToDepth: s2d(),
        ...e1Only(),
      };
    case 'ir':
      return {
        kind,
        ...base,
        dwKernel: ks(tok('k'), 1),
        expKernel: optKs('a', 1, 1),
        pwKernel: optKs('p', 1, 1),
        expRatio: expRatio(),
        seRatio: seRatio(),
        noskip,
        spaceToDepth: s2d(),
        ...(opts.has('cc') ? { numExperts: int(opts.get('cc')!, 0) } : {}),
      };
    case 'er':
      return {
        kind,
        ...base,
        expKernel: ks(tok('k'), 1),
        pwKernel: optKs('p', 1, 1),
        expRatio: expRatio(),
        forceInChs: optInt('fc', 0, 0),
        seRatio: seRatio(),
        noskip,
      };
    case 'cn': {
      const kTok = tok('k');
      // timm reads the cn kernel with int(), so a mixed list is an error there too.
      return { kind, ...base, kernel: int(kTok, 1), skip: skipFlag === true, ...e1Only() };
    }
    case 'uir':
      return {
        kind,
        ...base,
        dwKernelStart: optKs('a', 0, 0),
        dwKernelMid: ks(tok('k'), 0),
        dwKernelEnd: optKs('p', 0, 0),
        expRatio: expRatio(),
        seRatio: seRatio(),
        noskip,
      };
    case 'mha':
    case 'mqa':
      return {
        kind,
        ...base,
        dwKernel: ks(tok('k'), 1),
        numHeads: int(tok('h'), 1),
        kvDim: int(tok('d'), 1),
        kvStride: optInt('v', 1, 1),
        noskip,
      };
  }
}

function fmtKs(k: KernelSize): string {
  return typeof k === 'number' ? String(k) : k.join('.');
}

// Python's repr of a float in timm's strings: '6', '0.25', '4.5'. JS String() matches for these.
function fmtNum(v: number): string {
  return String(v);
}

/**
 * Encode a block back into timm's string form, options in canonical order
 * (r, k/a/p, s, e, c, fc, gs, se, cc, d, n, noskip|skip; 'uir' writes a before k, attention blocks h before s).
 * @example encodeBlock(decodeBlock('ds_r1_k3_s1_e1_c16_se0.25')) // 'ds_r1_k3_s1_e1_c16_se0.25'
 */
export function encodeBlock(b: BlockSpec): string {
  const t: string[] = [b.kind, `r${b.repeats}`];
  const tail = (): void => {
    if (b.groupSize !== undefined) t.push(`gs${b.groupSize}`);
  };
  switch (b.kind) {
    case 'ds':
    case 'dsa':
      t.push(`k${fmtKs(b.dwKernel)}`);
      if (b.pwKernel !== 1) t.push(`p${fmtKs(b.pwKernel)}`);
      t.push(`s${b.stride}`);
      if (b.expRatio !== undefined) t.push('e1');
      t.push(`c${b.outChs}`);
      tail();
      if (b.seRatio) t.push(`se${fmtNum(b.seRatio)}`);
      if (b.spaceToDepth) t.push('d1');
      break;
    case 'ir':
      t.push(`k${fmtKs(b.dwKernel)}`);
      if (b.expKernel !== 1) t.push(`a${fmtKs(b.expKernel)}`);
      if (b.pwKernel !== 1) t.push(`p${fmtKs(b.pwKernel)}`);
      t.push(`s${b.stride}`, `e${fmtNum(b.expRatio)}`, `c${b.outChs}`);
      tail();
      if (b.seRatio) t.push(`se${fmtNum(b.seRatio)}`);
      if (b.numExperts !== undefined) t.push(`cc${b.numExperts}`);
      if (b.spaceToDepth) t.push('d1');
      break;
    case 'er':
      t.push(`k${fmtKs(b.expKernel)}`);
      if (b.pwKernel !== 1) t.push(`p${fmtKs(b.pwKernel)}`);
      t.push(`s${b.stride}`, `e${fmtNum(b.expRatio)}`, `c${b.outChs}`);
      if (b.forceInChs) t.push(`fc${b.forceInChs}`);
      tail();
      if (b.seRatio) t.push(`se${fmtNum(b.seRatio)}`);
      break;
    case 'cn':
      t.push(`k${b.kernel}`, `s${b.stride}`);
      if (b.expRatio !== undefined) t.push('e1');
      t.push(`c${b.outChs}`);
      tail();
      break;
    case 'uir':
      // MobileNet-V4 strings always write `a` (a0 = no leading depthwise conv), never a default `p0`.
      t.push(`a${fmtKs(b.dwKernelStart)}`);
      t.push(`k${fmtKs(b.dwKernelMid)}`);
      if (b.dwKernelEnd !== 0) t.push(`p${fmtKs(b.dwKernelEnd)}`);
      t.push(`s${b.stride}`, `e${fmtNum(b.expRatio)}`, `c${b.outChs}`);
      tail();
      if (b.seRatio) t.push(`se${fmtNum(b.seRatio)}`);
      break;
    case 'mha':
    case 'mqa':
      t.push(`k${fmtKs(b.dwKernel)}`, `h${b.numHeads}`, `s${b.stride}`);
      if (b.kvStride !== 1) t.push(`v${b.kvStride}`);
      t.push(`d${b.kvDim}`, `c${b.outChs}`);
      tail();
      break;
  }
  if (b.act !== undefined) t.push(`n${b.act}`);
  if (b.kind === 'cn') {
    if (b.skip) t.push('skip');
  } else if (b.noskip) {
    t.push('noskip');
  }
  return t.join('_');
}

/** Decode every string of an arch definition, keeping the stage structure. */
export function decodeArchDef(def: ArchDef): BlockSpec[][] {
  return def.map((stage) => stage.map(decodeBlock));
}
