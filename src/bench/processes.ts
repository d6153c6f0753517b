import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';

export interface TimedCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Written to fds 3, 4, ... and closed. */
  readonly inputs?: readonly (string | Buffer)[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface TimedRun {
  readonly wallMs: number;
  readonly stdout: string;
}

/** Runs a command to its end; wall time from spawn to close. Rejects when it does not exit 0. */
export function timeProcess(run: TimedCommand): Promise<TimedRun> {
  const inputs = run.inputs ?? [];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(run.command, run.args, {
      stdio: ['ignore', 'pipe', 'pipe', ...inputs.map(() => 'pipe' as const)],
      ...(run.env ? { env: run.env } : {}),
      ...(run.cwd ? { cwd: run.cwd } : {}),
    });
    inputs.forEach((content, i) => {
      const fd = child.stdio[3 + i] as Writable;
      fd.on('error', () => undefined);
      fd.end(content);
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - t0;
      if (code === 0) resolve({ wallMs, stdout: Buffer.concat(stdout).toString() });
      else {
        const why = signal ?? `exit ${code}`;
        reject(new Error(`${run.command} ended with ${why}: ${Buffer.concat(stderr).toString().trim()}`));
      }
    });
  });
}
