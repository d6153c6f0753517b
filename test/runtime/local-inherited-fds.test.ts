import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const SANDBOX = fileURLToPath(new URL('../../src/runtime/local/index.ts', import.meta.url));
const HELPERS = fileURLToPath(new URL('./sandbox-helpers.ts', import.meta.url));
const root = process.getuid?.() === 0;

/** Node itself marks low inherited fds close-on-exec at start-up; a supervisor's fd can be anywhere. */
const INHERITED_FD = 100;

/**
 * A server process started with an extra open descriptor (a pipe from its parent, inheritable) runs
 * a program that lists which descriptors it holds. bwrap passes every open fd on, and launches do not go
 * through a wrapper that closes them, so the sandbox must have closed the inherited one itself.
 */
const SCRIPT = `
import { createSandbox } from ${JSON.stringify(SANDBOX)};
import { run } from ${JSON.stringify(HELPERS)};
const sandbox = await createSandbox({ isolation: 'bwrap', stateDir: '/tmp/crucible-fds-' + process.pid, warn: () => {} });
const code = 'import os\\nfds = [int(f) for f in os.listdir("/proc/self/fd")]\\nopen_ = []\\nfor fd in fds:\\n    try:\\n        os.fstat(fd)\\n        open_.append(fd)\\n    except OSError:\\n        pass\\nprint(sorted(open_))';
const cold = await run(sandbox, 'python', code);
const warm = await run(sandbox, 'python', code);
await sandbox.close();
process.stdout.write(JSON.stringify({ cold: cold.stdout.trim(), warm: warm.stdout.trim() }));
`;

describe('local runtime: descriptors the server inherited', () => {
  test.skipIf(!root)('never reach a program, cold or from the warm pool (needs root for bwrap)', async () => {
    // An inherited pipe at fd 100 of the child, as a supervisor or a shell redirection would leave it.
    const stdio: ('ignore' | 'pipe' | 'inherit')[] = ['ignore', 'pipe', 'inherit'];
    while (stdio.length < INHERITED_FD) stdio.push('ignore');
    stdio.push('pipe');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
      stdio,
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ cold: '[0, 1, 2]', warm: '[0, 1, 2]' });
  });
});
