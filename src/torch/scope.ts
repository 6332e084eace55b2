// Deterministic release of native tensors. Every tensor made while a scope is open belongs to the
// innermost scope; when the scope's function returns (or its promise settles), everything it owns
// is released except what the function returned, which moves to the enclosing scope. Built on
// AsyncLocalStorage, so a scope follows its own await chain (tfjs's tidy cannot) and concurrent
// async scopes do not steal each other's tensors. GC finalization is only a backstop.
import { AsyncLocalStorage } from 'node:async_hooks';

/** Something a scope can own: tensors (and anything else holding native memory). */
export interface ScopedResource {
  /** Set by keep(): never released by a scope. */
  kept: boolean;
  dispose(): void;
  /** Called when the resource leaves the last scope alive (escaped, or kept): arm the GC backstop. */
  unscoped(): void;
}

export const SCOPED = Symbol('noisy-student.scoped');

function isScoped(v: unknown): v is ScopedResource {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[SCOPED] === true;
}

class Scope {
  owned: ScopedResource[] = [];
  closed = false;
  constructor(readonly parent: Scope | undefined) {}

  close(escaping: Set<ScopedResource>): void {
    this.closed = true;
    const owned = this.owned;
    this.owned = [];
    for (const r of owned) {
      if (r.kept) continue;
      if (escaping.has(r)) {
        if (!adoptInto(this.parent, r)) r.unscoped();
      } else r.dispose();
    }
  }
}

const storage = new AsyncLocalStorage<Scope>();

function adoptInto(s: Scope | undefined, r: ScopedResource): boolean {
  while (s !== undefined && s.closed) s = s.parent;
  if (s === undefined) return false;
  s.owned.push(r);
  return true;
}

/**
 * Called for every new tensor: it belongs to the innermost open scope, if any. Returns false when
 * no scope owns it (the caller then arms its GC backstop).
 */
export function adoptIntoCurrentScope(r: ScopedResource): boolean {
  const s = storage.getStore();
  return s !== undefined && adoptInto(s, r);
}

/** Collect the scoped resources in a returned value (arrays, plain objects, Maps; one level of nesting each). */
function collect(value: unknown, out: Set<ScopedResource>, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (isScoped(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
}

/**
 * Run `fn` in a new scope. Tensors it makes are released when it returns, except those in its
 * return value (a tensor, or arrays/objects/Maps of them). If `fn` returns a promise, the scope
 * stays open until the promise settles, following `fn`'s own await chain.
 */
export function scope<T>(fn: () => T): T {
  const s = new Scope(storage.getStore());
  let result: T;
  try {
    result = storage.run(s, fn);
  } catch (e) {
    s.close(new Set());
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v: unknown) => {
        const keep = new Set<ScopedResource>();
        collect(v, keep);
        s.close(keep);
        return v;
      },
      (e: unknown) => {
        s.close(new Set());
        throw e;
      },
    ) as T;
  }
  const keep = new Set<ScopedResource>();
  collect(result, keep);
  s.close(keep);
  return result;
}

/** Exclude a resource from every scope: it lives until dispose() (or GC, as a backstop). */
export function keep<T extends ScopedResource>(r: T): T {
  if (!r.kept) {
    r.kept = true;
    r.unscoped();
  }
  return r;
}

/** Dispose every scoped resource found in a value (tensors, arrays/objects of tensors). */
export function dispose(value: unknown): void {
  const found = new Set<ScopedResource>();
  collect(value, found);
  for (const r of found) r.dispose();
}
