/**
 * Glob matching for unit and method scopes: `*` matches any run of
 * characters (including none, and `/`), `?` one character; everything else
 * is literal. One small rule, so a scope reads the same in hsu.yaml, on the
 * `hsu token create` command line and in the audit log.
 */
const cache = new Map<string, RegExp>();

/** True when `value` matches `pattern` as a whole. */
export function globMatch(pattern: string, value: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    re = new RegExp(`^${body}$`, "s");
    if (cache.size > 1000) cache.clear();
    cache.set(pattern, re);
  }
  return re.test(value);
}

/** True when the list is empty ("any") or some pattern matches. */
export function anyGlob(patterns: readonly string[], value: string): boolean {
  return patterns.length === 0 || patterns.some((p) => globMatch(p, value));
}
