// tap's t.match treats an array in the pattern as a prefix: `[{ kind: 'a' }]` also matches a list of ten.
// matchExact matches the same way and also requires every array in the pattern to have exactly the
// length of the array it meets, so a list with an extra or a missing item fails.
import type { Test } from 'tap';

/** t.match, with each array of the pattern matching only an array of the same length. */
export function matchExact(t: Test, found: unknown, pattern: unknown, message = 'should match pattern'): boolean {
  const problems: string[] = [];
  lengths(found, pattern, '', problems);
  const ok = t.match(found, pattern as object, message);
  if (problems.length) return t.fail(`${message}: ${problems.join('; ')}`) && false;
  return ok;
}

function lengths(found: unknown, pattern: unknown, path: string, problems: string[]): void {
  if (Array.isArray(pattern)) {
    if (!Array.isArray(found)) return;
    if (found.length !== pattern.length) problems.push(`${path || 'value'} has ${found.length} items, expected ${pattern.length}`);
    for (const [i, p] of pattern.entries()) lengths(found[i], p, `${path}[${i}]`, problems);
  } else if (pattern && typeof pattern === 'object' && found && typeof found === 'object' && !(pattern instanceof RegExp)) {
    for (const [k, p] of Object.entries(pattern)) lengths((found as Record<string, unknown>)[k], p, path ? `${path}.${k}` : k, problems);
  }
}
