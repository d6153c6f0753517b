/** The package's version, from its package.json (one small synchronous read; only `--version` and help ask). */
export function packageVersion(): string {
  // getBuiltinModule, not an ESM import of node:fs: that one evaluates fs.promises (and readline), ~20 ms.
  const text = process
    .getBuiltinModule('node:fs')
    .readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
