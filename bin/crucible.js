#!/usr/bin/env node
// Crucible needs Node 24 (node:sqlite, current V8). The project installs it locally (the `node` package);
// when started by an older system Node, hand over to that one instead of failing later.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
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
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 125)));
} else {
  const { main } = await import('../dist/cli/index.js');
  await main(process.argv);
}
