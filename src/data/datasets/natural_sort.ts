// timm's `natural_key` ordering (timm/utils/misc.py): lower-case, split into digit and non-digit
// runs, digits compare as integers ("class2" < "class10"). Used for class and file order.

type Part = string | bigint;

export function naturalKey(s: string): Part[] {
  return s
    .toLowerCase()
    .split(/(\d+)/)
    .map((p, i) => (i % 2 === 1 ? BigInt(p) : p));
}

/** Compare by Unicode code points, as Python compares str. */
function cmpStr(a: string, b: string): number {
  const A = [...a];
  const B = [...b];
  const n = Math.min(A.length, B.length);
  for (let i = 0; i < n; i++) {
    const d = A[i]!.codePointAt(0)! - B[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return A.length - B.length;
}

export function naturalCompare(a: string, b: string): number {
  const ka = naturalKey(a);
  const kb = naturalKey(b);
  const n = Math.min(ka.length, kb.length);
  for (let i = 0; i < n; i++) {
    const x = ka[i]!;
    const y = kb[i]!;
    if (typeof x === 'bigint' && typeof y === 'bigint') {
      if (x !== y) return x < y ? -1 : 1;
    } else {
      const d = cmpStr(String(x), String(y));
      if (d !== 0) return d;
    }
  }
  return ka.length - kb.length;
}
