// Module: a tree of named parameters, buffers and children whose dotted paths are the checkpoint
// keys. Keys are declared explicitly (registerParameter('weight', ...), registerModule('conv_pw',
// ...)), never derived from TypeScript property names, so they stay timm's verbatim.
import { isFloating, keep, noGrad, parseDevice, type Device, type FloatDType, type Tensor } from '../torch/index.js';

export type { ForwardContext } from './context.js';

export abstract class Module {
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  /** Buffers that are not part of the state dict (timm's persistent=False). */
  private readonly nonPersistent = new Set<string>();
  private readonly children = new Map<string, Module>();
  private _training = true;

  /** Declare a parameter; it becomes trainable (requiresGrad) and is kept out of every scope. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    checkName(name);
    const old = this.params.get(name);
    if (old && old !== t) old.dispose();
    t.requiresGrad = true;
    this.params.set(name, keep(t));
    return t;
  }

  protected registerBuffer(name: string, t: Tensor, opts: { persistent?: boolean } = {}): Tensor {
    checkName(name);
    const old = this.buffers.get(name);
    if (old && old !== t) old.dispose();
    this.buffers.set(name, keep(t));
    if (opts.persistent === false) this.nonPersistent.add(name);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    checkName(name);
    const old = this.children.get(name);
    if (old && old !== m) old.dispose();
    this.children.set(name, m);
    return m;
  }

  /** Remove a child (and dispose it), e.g. when replacing a classifier with an identity. */
  protected removeModule(name: string): void {
    this.children.get(name)?.dispose();
    this.children.delete(name);
  }

  /** The module's own parameter by local name (for subclasses' forward). */
  protected param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no parameter "${name}"`);
    return t;
  }
  protected paramOrNull(name: string): Tensor | null {
    return this.params.get(name) ?? null;
  }
  protected buffer(name: string): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`${this.constructor.name} has no buffer "${name}"`);
    return t;
  }

  *namedChildren(): Generator<[string, Module]> {
    yield* this.children;
  }

  /** Every module in the tree with its dotted path ('' for this one), in registration order. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.children) yield* child.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [name, t] of this.params) yield [prefix ? `${prefix}.${name}` : name, t];
    for (const [name, child] of this.children) yield* child.namedParameters(prefix ? `${prefix}.${name}` : name);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, t]) => t);
  }

  *namedBuffers(prefix = '', opts: { persistentOnly?: boolean } = {}): Generator<[string, Tensor]> {
    for (const [name, t] of this.buffers) {
      if (opts.persistentOnly && this.nonPersistent.has(name)) continue;
      yield [prefix ? `${prefix}.${name}` : name, t];
    }
    for (const [name, child] of this.children) yield* child.namedBuffers(prefix ? `${prefix}.${name}` : name, opts);
  }

  /**
   * The state dict in PyTorch's order (per module: parameters, then buffers, then children), with
   * the live tensors (not copies): save them, or clone them if you need a snapshot.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const walk = (m: Module, prefix: string): void => {
      for (const [name, t] of m.params) out.set(prefix + name, t);
      for (const [name, t] of m.buffers) if (!m.nonPersistent.has(name)) out.set(prefix + name, t);
      for (const [name, child] of m.children) walk(child, `${prefix}${name}.`);
    };
    walk(this, '');
    return out;
  }

  /** Number of parameter elements (timm's param count excludes buffers). */
  numParams(): number {
    let n = 0;
    for (const [, t] of this.namedParameters()) n += t.numel();
    return n;
  }

  /**
   * Training mode (batch statistics in BatchNorm, dropout and drop-path active): the only source of
   * it. Layers read their own module's flag; nothing passes the mode to forward.
   */
  get training(): boolean {
    return this._training;
  }
  /** Set training mode on this module and every child. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m._training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Convert every floating parameter and buffer to `dtype` (model.double() / .half() in torch), or
   * move every parameter and buffer to a device (model.to('cuda')).
   * The tensors are replaced: optimizers made before the conversion no longer see them.
   */
  to(dtype: FloatDType): this;
  to(device: Device): this;
  to(target: FloatDType | Device): this {
    if (!isFloating(target as FloatDType)) return this.toDevice(target);
    const dtype = target as FloatDType;
    for (const [, m] of this.namedModules()) {
      for (const [name, t] of m.params) {
        if (!isFloating(t.dtype) || t.dtype === dtype) continue;
        const c = noGrad(() => t.to(dtype, { copy: true }));
        m.registerParameter(name, c);
      }
      for (const [name, t] of m.buffers) {
        if (!isFloating(t.dtype) || t.dtype === dtype) continue;
        m.registerBuffer(
          name,
          noGrad(() => t.to(dtype, { copy: true })),
          { persistent: !m.nonPersistent.has(name) },
        );
      }
    }
    return this;
  }

  /** Stop (or resume) gradients for every parameter, e.g. to freeze layers when fine-tuning. */
  requiresGrad_(on = true): this {
    for (const t of this.parameters()) t.requiresGrad = on;
    return this;
  }

  /** Release every parameter and buffer of the tree. The module is unusable afterwards. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    for (const t of this.buffers.values()) t.dispose();
    for (const m of this.children.values()) m.dispose();
    this.params.clear();
    this.buffers.clear();
    this.children.clear();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal For state-dict loading: replace the tensor behind a key, keeping its role. */
  _setTensor(localName: string, t: Tensor): void {
    if (this.params.has(localName)) this.registerParameter(localName, t);
    else if (this.buffers.has(localName)) this.registerBuffer(localName, t, { persistent: !this.nonPersistent.has(localName) });
    else throw new Error(`${this.constructor.name} has no tensor "${localName}"`);
  }
  /** @internal */
  _getTensor(localName: string): Tensor | undefined {
    return this.params.get(localName) ?? this.buffers.get(localName);
  }
  /** @internal */
  _isParameter(localName: string): boolean {
    return this.params.has(localName);
  }
  /** @internal */
  _child(name: string): Module | undefined {
    return this.children.get(name);
  }

  /**
   * Where the module lives: the device of its first parameter ('cpu' for a module without any).
   * Modules are moved whole (to(device)), so one parameter speaks for all.
   */
  get device(): Device {
    for (const [, t] of this.namedParameters()) return t.device;
    return 'cpu';
  }

  /**
   * to(device): every parameter and buffer of the tree (and any accumulated gradient) moved in
   * place. The module's registered tensors are replaced by the moved ones, which keep their
   * requiresGrad; the old ones are disposed. The device is checked before anything moves.
   */
  private toDevice(device: Device): this {
    const target = parseDevice(device);
    for (const [, m] of this.namedModules()) {
      for (const [name, t] of m.params) {
        if (t.device === target) continue;
        const trainable = t.requiresGrad;
        const grad = t.grad;
        const moved = noGrad(() => t.to(target));
        if (grad) {
          // libtorch holds the gradient itself; the JS handles are only for the hand-over.
          const g = noGrad(() => grad.to(target));
          moved.grad = g;
          g.dispose();
          grad.dispose();
        }
        m.registerParameter(name, moved);
        moved.requiresGrad = trainable;
      }
      for (const [name, t] of m.buffers) {
        if (t.device === target) continue;
        m.registerBuffer(
          name,
          noGrad(() => t.to(target)),
          { persistent: !m.nonPersistent.has(name) },
        );
      }
    }
    return this;
  }
}

function checkName(name: string): void {
  if (name === '' || name.includes('.')) throw new Error(`invalid module/tensor name "${name}" (no dots, not empty)`);
}

/** A module that passes its input through (timm's nn.Identity placeholders). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Children named '0', '1', ... (torch's nn.ModuleList / nn.Sequential keys). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.push(m);
  }
  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i < 0 ? this.items.length + i : i];
    if (!m) throw new RangeError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }
}
