import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../../src/runtime/local/index.js';
import { run } from './sandbox-helpers.js';

describe('isolation "none" (development only)', () => {
  let sandbox: Sandbox;
  let stateDir: string;
  const warnings: string[] = [];

  beforeAll(async () => {
    // A private state directory, as the server's own is: the run's files must not depend on it.
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'crucible-none-'));
    sandbox = await createSandbox({ isolation: 'none', stateDir, warn: (m) => warnings.push(m) });
  });

  afterAll(async () => {
    await sandbox?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('warns loudly that nothing is isolated', () => {
    expect(warnings.join('\n')).toMatch(/NO isolation/);
  });

  it.each([
    ['python', 'import os\nprint(os.getuid(), os.getgid())'],
    ['javascript', 'console.log(process.getuid(), process.getgid())'],
    ['bash', 'echo $(id -u) $(id -g)'],
  ] as const)('runs %s as the unprivileged user 65534', async (language, code) => {
    const r = await run(sandbox, language, code);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('65534 65534\n');
    expect(r.exit.exitCode).toBe(0);
  });
});
