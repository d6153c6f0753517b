import type { KObject } from './store.js';

/** Equality-based label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`), as the API server accepts them. */
export function matchesLabels(selector: string | null, object: KObject): boolean {
  if (!selector) return true;
  const labels = object.metadata.labels ?? {};
  return selector.split(',').every((term) => {
    const t = term.trim();
    if (!t) return true;
    const ne = t.split('!=');
    if (ne.length === 2) return labels[ne[0]!.trim()] !== ne[1]!.trim();
    const eq = t.split(/==?/);
    if (eq.length === 2) return labels[eq[0]!.trim()] === eq[1]!.trim();
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

/** Field selectors on `metadata.name`, `metadata.namespace`, `spec.nodeName`, `status.phase`. */
export function matchesFields(selector: string | null, object: KObject): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const negate = term.includes('!=');
    const [path = '', expected = ''] = term.split(/!=|==?/);
    const value = path
      .trim()
      .split('.')
      .reduce<unknown>(
        (o, key) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined),
        object,
      );
    return negate ? value !== expected : String(value ?? '') === expected;
  });
}
