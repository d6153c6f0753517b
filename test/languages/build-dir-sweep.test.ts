import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { removeStaleBuildDirs } from '../../src/runtime/local/build-dir.js';
import { createSandbox } from '../../src/runtime/local/index.js';
import { describeSandboxed } from '../support/requirements.js';

/** A pid no process has any more: a child that has exited and been reaped. */
function deadPid(): number {
  const pid = spawnSync('/usr/bin/true').pid;
  if (pid === undefined) throw new Error('cannot spawn /usr/bin/true');
  return pid;
}

const mounted = (path: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);

/** A crashed server's build: a tmpfs with a compiled file in it, as createBuildDir leaves it. */
function leftover(root: string, name: string): string {
  const path = join(root, name);
  mkdirSync(path, { recursive: true });
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'size=1m', 'crucible-build', path]);
  writeFileSync(join(path, 'main'), 'ELF…');
  return path;
}

describeSandboxed('build directories a crashed server left (root: tmpfs mounts)', () => {
  test('only those of dead servers are unmounted and removed', async () => {
    const root = join(tmpdir(), `crucible-sweep-${process.pid}`);
    const stale = leftover(root, `${deadPid()}-3`);
    const live = join(root, `${process.pid}-1`);
    mkdirSync(live);
    mkdirSync(join(root, 'not-a-build'));
    expect(mounted(stale)).toBe(true);
    expect(await removeStaleBuildDirs(root)).toBe(1);
    expect(mounted(stale)).toBe(false);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(join(root, 'not-a-build'))).toBe(true);
    execFileSync('/usr/bin/rm', ['-rf', root]);
  });

  test('the sandbox sweeps them at start-up and says so', async () => {
    const stale = leftover(join(tmpdir(), 'crucible-builds'), `${deadPid()}-1`);
    const warnings: string[] = [];
    const sandbox = await createSandbox({
      isolation: 'bwrap',
      stateDir: join(tmpdir(), `crucible-sweep-state-${process.pid}`),
      warmPoolSize: 0,
      warn: (message) => warnings.push(message),
    });
    await sandbox.close();
    expect(mounted(stale)).toBe(false);
    expect(existsSync(stale)).toBe(false);
    expect(
      warnings.some((w) => /removed \d+ build directories left by a previous Crucible server/.test(w)),
    ).toBe(true);
  });
});
