import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

/** Every .ts file under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

it('nothing outside test/ imports the test tree (the fake cluster lives in testkit/)', () => {
  const offenders = ['src', 'bench', 'testkit']
    .flatMap((dir) => sources(dir))
    .filter((file) => /from '(\.\.\/)+test\//.test(readFileSync(file, 'utf8')));
  expect(offenders).toEqual([]);
});
