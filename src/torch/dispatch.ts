// Escape hatch: call any registered libtorch operator by name, with tensors in and out.
import { native, type Handle } from './native.js';
import { aten, Op } from './ops.js';
import { Tensor, wrap } from './tensor.js';
import type { Generator } from './random.js';

function toArg(a: unknown): unknown {
  if (a instanceof Tensor) return a.h;
  if (Array.isArray(a)) return a.map(toArg);
  if (a !== null && typeof a === 'object' && 'id' in a && typeof (a as Generator).id === 'number') return (a as Generator).id;
  return a;
}

function fromResult(r: unknown, op: Op): unknown {
  // Tensor results come back as handles; the schema says which numbers are tensors.
  const schema = op.schema();
  const ret = schema.slice(schema.lastIndexOf('->') + 2).trim();
  const tensorish = /^\(?\s*Tensor/.test(ret);
  if (!tensorish) return r;
  if (Array.isArray(r)) return r.map((x) => (typeof x === 'number' ? wrap(x as Handle) : x));
  return typeof r === 'number' ? wrap(r) : r;
}

function resolve(name: string): Op {
  const [base, overload = ''] = name.replace(/^aten::/, '').split('.');
  return aten(base!, overload);
}

/**
 * callOp('aten::addmm', a, b, c): any operator with schema-converted arguments (pass integers
 * meant as int Scalars as BigInt). Tensor results come back as Tensors.
 */
export function callOp(name: string, ...args: unknown[]): unknown {
  const op = resolve(name);
  return fromResult(native.call(op.get(), ...args.map(toArg)), op);
}

/** callOp on the serial compute thread. */
export async function callOpAsync(name: string, ...args: unknown[]): Promise<unknown> {
  const op = resolve(name);
  return fromResult(await native.callAsync(op.get(), ...args.map(toArg)), op);
}
