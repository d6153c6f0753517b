#!/usr/bin/env node
// Runs on `npm install` (the `prepare` script): installs the Debian packages the sandboxes need when they are
// missing, builds the static Kubernetes runner (runner/, Rust, std only), then compiles the TypeScript so
// `npx crucible` works at once. `node scripts/setup.mjs --runner` only builds the runner.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installDebianPackages } from './apt-install.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const RUNNER_DIR = join(ROOT, 'runner');
/** Where the tests (fake kubelet) and deploy/runner/Dockerfile take the static runner from. */
const RUNNER_BINARY = join(RUNNER_DIR, 'target', 'crucible-runner');
const RUST_TARGETS = { x64: 'x86_64-unknown-linux-gnu', arm64: 'aarch64-unknown-linux-gnu' };

const PACKAGES = [
  { binary: '/usr/bin/bwrap', pkg: 'bubblewrap', why: 'the default sandbox' },
  { binary: '/usr/bin/runsc', pkg: 'runsc', why: 'the gvisor sandbox' },
  { binary: '/usr/bin/python3', pkg: 'python3', why: 'the python language' },
  // Python's default set includes NumPy (src/core/languages.ts); the other languages: `crucible languages install`.
  {
    binary: '/usr/lib/python3/dist-packages/numpy/__init__.py',
    pkg: 'python3-numpy',
    why: 'NumPy for python',
  },
  { binary: '/usr/bin/setpriv', pkg: 'util-linux', why: 'dropping to an unprivileged user' },
  { binary: '/usr/bin/prlimit', pkg: 'util-linux', why: 'resource limits' },
  // Debian's browser for the dashboard's tests (playwright-core drives it; it downloads no browser).
  { binary: '/usr/bin/chromium', pkg: 'chromium', why: 'the dashboard browser tests' },
];

function log(message) {
  process.stderr.write(`crucible setup: ${message}\n`);
}

function findCargo() {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/root/.cargo/bin', join(homedir(), '.cargo', 'bin')];
  return dirs.map((d) => join(d || '.', 'cargo')).find((p) => existsSync(p)) ?? null;
}

/** Builds runner/ as a static executable (glibc, crt-static) and places it at runner/target/crucible-runner. */
function buildRunner() {
  const cargo = findCargo();
  if (!cargo) {
    log('cargo not found: the Kubernetes runner is not built (apt-get install cargo, then npm install)');
    return;
  }
  const target = RUST_TARGETS[process.arch];
  if (!target) {
    log(`no static runner build for ${process.arch}`);
    return;
  }
  execFileSync(cargo, ['build', '--release', '--offline', '-q', '--target', target], {
    cwd: RUNNER_DIR,
    stdio: 'inherit',
    env: {
      ...process.env,
      PATH: `${dirname(cargo)}:${process.env.PATH ?? ''}`,
      RUSTFLAGS: '-C target-feature=+crt-static',
    },
  });
  // Copy then rename: concurrent builds (test workers) never see a half-written binary.
  const temp = `${RUNNER_BINARY}.${process.pid}`;
  copyFileSync(join(RUNNER_DIR, 'target', target, 'release', 'crucible-runner'), temp);
  renameSync(temp, RUNNER_BINARY);
}

if (process.argv.includes('--runner')) {
  buildRunner();
  process.exit(0);
}

const missing = [...new Set(PACKAGES.filter((p) => !existsSync(p.binary)).map((p) => p.pkg))];
if (!findCargo()) missing.push('cargo');
installDebianPackages(missing, { log });

log('building the Kubernetes runner');
try {
  buildRunner();
} catch (error) {
  // The local backends do not need it: report, and let the rest of the setup finish.
  log(`building the Kubernetes runner failed: ${error.message}`);
}
log('compiling TypeScript');
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
execFileSync(process.execPath, ['scripts/bundle-cli.mjs'], { stdio: 'inherit' });
log('done: start the server with `npx crucible serve`');
