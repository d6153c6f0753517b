import { vi } from 'vitest';
import { main } from '../../src/cli/index.js';

export interface CliRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/**
 * Runs `crucible --url URL …args` in this process (the CLI's own `main`), with CRUCIBLE_TOKEN = `token` when
 * given: what it wrote to stdout and stderr, and its exit code. Stderr is not a terminal here.
 */
export async function runCli(url: string, args: readonly string[], token?: string): Promise<CliRun> {
  if (token !== undefined) vi.stubEnv('CRUCIBLE_TOKEN', token);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const before = process.exitCode;
  try {
    await main(['node', 'crucible', '--url', url, ...args]);
    return { stdout, stderr, code: typeof process.exitCode === 'number' ? process.exitCode : 0 };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = before;
    if (token !== undefined) vi.unstubAllEnvs();
  }
}
