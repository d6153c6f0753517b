#!/usr/bin/env node
// Runs on `npm install` (the `prepare` script): installs the Debian packages the sandboxes need when they are
// missing, then compiles the TypeScript so `npx crucible` works at once.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PACKAGES = [
  { binary: '/usr/bin/bwrap', pkg: 'bubblewrap', why: 'the default sandbox' },
  { binary: '/usr/bin/runsc', pkg: 'runsc', why: 'the gvisor sandbox' },
  { binary: '/usr/bin/python3', pkg: 'python3', why: 'the python language' },
  { binary: '/usr/bin/setpriv', pkg: 'util-linux', why: 'dropping to an unprivileged user' },
  { binary: '/usr/bin/prlimit', pkg: 'util-linux', why: 'resource limits' },
];

function log(message) {
  process.stderr.write(`crucible setup: ${message}\n`);
}

const missing = [...new Set(PACKAGES.filter((p) => !existsSync(p.binary)).map((p) => p.pkg))];
if (missing.length > 0) {
  const isRoot = process.getuid?.() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (hasApt && (isRoot || existsSync('/usr/bin/sudo'))) {
    const sudo = isRoot ? [] : ['sudo'];
    log(`installing ${missing.join(', ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (args) => {
      const [cmd, ...rest] = [...sudo, ...args];
      const result = spawnSync(cmd, rest, { stdio: 'inherit', env });
      if (result.status !== 0) throw new Error(`${[cmd, ...rest].join(' ')} failed (${result.status})`);
    };
    run(['apt-get', 'update', '-qq']);
    run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]);
  } else {
    log(
      `missing Debian packages: ${missing.join(', ')}. Install them (apt-get install ${missing.join(' ')}).`,
    );
  }
}

log('compiling TypeScript');
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
log('done: start the server with `npx crucible serve`');
