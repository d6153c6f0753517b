#!/bin/sh
":" //; s=$0; [ -L "$s" ] && s=$(readlink -f "$s"); d=${s%/*}; for n in "$d/../node_modules/node/bin/node" "$d/../../node/bin/node"; do [ -x "$n" ] && exec "$n" "$s" "$@"; done; exec node "$s" "$@"
// The line above is sh and JavaScript at once. Run as a program (npx, node_modules/.bin/crucible), sh starts
// the project's own Node 24 (the `node` package) on this file directly: one Node start, not two. Run as
// `node bin/crucible.js`, Node skips it as an expression statement and a comment.
//
// Crucible needs Node 24 (node:sqlite, current V8). Started by an older Node, hand over to the local one.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  // getBuiltinModule (Node ≥ 20.16) skips building ESM facades; older Nodes import.
  const builtin = async (id) => process.getBuiltinModule?.(id) ?? (await import(id));
  const [{ spawn }, { existsSync }, { isatty }, { fileURLToPath }] = await Promise.all(
    ['node:child_process', 'node:fs', 'node:tty', 'node:url'].map(builtin),
  );
  const local = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(local)) {
    process.stderr.write(
      `crucible: Node 24 or newer is required (this is ${process.version}); run npm install\n`,
    );
    process.exit(125);
  }
  const child = spawn(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // A Ctrl-C at a terminal reaches the child too (same foreground process group): forwarding it as well would
  // deliver it twice, and a second SIGINT forces `crucible run` out before it has cancelled the evaluation.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (signal !== 'SIGINT' || !isatty(0)) child.kill(signal);
    });
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 125)));
} else {
  // V8's code cache on disk: later starts skip compiling the CLI's modules (and commander's). Not an ESM
  // import of node:module: building its facade evaluates every export (source maps support among them).
  process.getBuiltinModule('node:module').enableCompileCache?.();
  // dist/cli.js is the start-up path bundled (scripts/bundle-cli.mjs); a tree built by tsc alone has only
  // dist/cli/index.js, the same code as separate modules.
  const { main } = await import('../dist/cli.js').catch((error) =>
    error?.code === 'ERR_MODULE_NOT_FOUND' && error.url?.endsWith('/dist/cli.js')
      ? import('../dist/cli/index.js')
      : Promise.reject(error),
  );
  await main(process.argv);
}
