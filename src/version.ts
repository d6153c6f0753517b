let cached: string | undefined;

/**
 * The package's version from package.json (read once: `dist/` and `src/` both sit one level below it). The
 * CLI asks it on its fast path: getBuiltinModule, not an ESM import of node:fs, which evaluates fs.promises
 * (and readline), ~20 ms.
 */
export function packageVersion(): string {
  cached ??= (
    JSON.parse(
      process.getBuiltinModule('node:fs').readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string }
  ).version;
  return cached;
}
