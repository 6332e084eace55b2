// Operator handles, resolved by name + overload on first use and cached. The addon converts
// arguments by each operator's schema, so a typed wrapper only needs the argument order.
import { native, type OpId } from './native.js';

export class Op {
  private id: OpId = -1;
  constructor(
    readonly name: string,
    readonly overload: string = '',
  ) {}
  get(): OpId {
    return this.id >= 0 ? this.id : (this.id = native.op(this.name, this.overload));
  }
  schema(): string {
    return native.opSchema(this.get());
  }
}

const table = new Map<string, Op>();

/** `aten('add', 'Tensor')` -> the operator aten::add.Tensor (one shared Op object per name). */
export function aten(name: string, overload = ''): Op {
  const key = `${name}.${overload}`;
  let op = table.get(key);
  if (op === undefined) {
    op = new Op(`aten::${name}`, overload);
    table.set(key, op);
  }
  return op;
}

/** Every Op created so far (for the test that checks each resolves against this libtorch). */
export function knownOps(): readonly Op[] {
  return [...table.values()];
}
