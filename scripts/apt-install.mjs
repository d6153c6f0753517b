// One way to install Debian packages, shared by the set-up (scripts/setup.mjs, on `npm install`) and
// `crucible languages install` (src/runtime/local/install-languages.ts): apt-get as root, or through sudo.
// Plain JavaScript, because the set-up runs before the TypeScript is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Installs `packages` with apt-get (`update`, then `install --no-install-recommends`). Returns false, after
 * saying what to run, when this host cannot (no apt-get, or neither root nor sudo); throws when apt-get fails.
 *
 * @param {readonly string[]} packages
 * @param {{ log: (message: string) => void, quiet?: boolean }} options
 * @returns {boolean}
 */
export function installDebianPackages(packages, options) {
  if (packages.length === 0) return true;
  const isRoot = process.getuid?.() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (!hasApt || !(isRoot || existsSync('/usr/bin/sudo'))) {
    options.log(
      `missing Debian packages: ${packages.join(', ')}. Install them (apt-get install ${packages.join(' ')}).`,
    );
    return false;
  }
  const sudo = isRoot ? [] : ['sudo'];
  options.log(`installing ${packages.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const quiet = options.quiet === false ? [] : ['-qq'];
  const run = (args) => {
    const [cmd, ...rest] = [...sudo, ...args];
    // stdout to stderr: the caller's stdout may be a machine-read answer (`--json`).
    const result = spawnSync(cmd, rest, { stdio: ['ignore', 2, 2], env });
    if (result.status !== 0) throw new Error(`${[cmd, ...rest].join(' ')} failed (${result.status})`);
  };
  // Another install (a parallel test file, an operator) may hold dpkg's lock: wait for it instead of failing.
  const wait = ['-o', 'DPkg::Lock::Timeout=600'];
  run(['apt-get', ...wait, 'update', ...quiet]);
  run(['apt-get', ...wait, 'install', '-y', ...quiet, '--no-install-recommends', ...packages]);
  return true;
}
