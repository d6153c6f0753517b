// Bundles the CLI's start-up path (dist/cli/index.js and what it imports statically) into dist/cli.js, which
// bin/crucible.js loads: one module to resolve and compile instead of two dozen, ~7 ms of CPU per command.
// What the CLI imports lazily (the server, the bench, `kube`, commander, npm packages) stays out, imported
// from dist/ and node_modules as tsc built them, so `crucible run` never loads the server. Run after tsc.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleUi } from './bundle-ui.mjs';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** A relative dynamic `import()` stays a separate module, its path rewritten relative to dist/cli.js. */
const lazyImportsStayOut = {
  name: 'lazy-imports-stay-out',
  setup(builder) {
    builder.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const target = path.relative(dist, path.resolve(args.resolveDir, args.path)).split(path.sep).join('/');
      return { path: `./${target}`, external: true };
    });
  },
};

await build({
  entryPoints: [path.join(dist, 'cli/index.js')],
  outfile: path.join(dist, 'cli.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  plugins: [lazyImportsStayOut],
  logLevel: 'warning',
});

// The web dashboard (src/ui) into dist/ui, served by `crucible serve` at `/`.
await bundleUi();
