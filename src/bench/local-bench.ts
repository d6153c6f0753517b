import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../cli/client.js';
import { summarize, type Summary } from './stats.js';

export interface LocalBenchOptions {
  readonly iterations: number;
  readonly sandbox: 'bwrap' | 'gvisor' | 'none';
  readonly log?: (line: string) => void;
}

export interface LocalBenchResult {
  readonly sandbox: string;
  /** Plain `python3 -c 'print(1)'`, spawned from this process, ms. */
  readonly plainPython: Summary;
  /** POST → terminal status seen by the client (GET ?wait), ms. */
  readonly submitToTerminal: Summary;
  /** Stage breakdown from the stored timestamps, ms. */
  readonly stages: Record<'queueWait' | 'start' | 'run' | 'store' | 'submitToStored', Summary>;
  readonly ratioToPlainPython: number;
}

const BIN = fileURLToPath(new URL('../../bin/crucible.js', import.meta.url));

/**
 * Submit→terminal latency of `print(1)` over HTTP against a real server process, next to plain Python startup
 * measured in the same run (the figure the issue compares against).
 */
export async function benchLocal(options: LocalBenchOptions): Promise<LocalBenchResult> {
  const log = options.log ?? (() => undefined);
  const plain: number[] = [];
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'crucible-bench-'));
  const server = await startServerProcess(dataDir, options.sandbox);
  try {
    const client = new ApiClient(server.url);
    const samples: number[] = [];
    const stages = { queueWait: [], start: [], run: [], store: [], submitToStored: [] } as Record<
      keyof LocalBenchResult['stages'],
      number[]
    >;
    log(`server up at ${server.url}; ${options.iterations} measured runs after 5 warm-up runs`);
    for (let i = 0; i < options.iterations + 5; i++) {
      // Interleaved with the HTTP runs, so both see the same machine load.
      const plainMs = await timeProcess('/usr/bin/python3', ['-c', 'print(1)']);
      const t0 = performance.now();
      const submitted = await client.submit({ language: 'python', code: 'print(1)' });
      const final = await client.get(submitted.id, 30);
      const elapsed = performance.now() - t0;
      if (final.status !== 'succeeded' || final.result?.stdout !== '1\n') {
        throw new Error(
          `benchmark evaluation ${final.id} ended ${final.status}: ${JSON.stringify(final.result)}`,
        );
      }
      if (i < 5) continue;
      plain.push(plainMs);
      samples.push(elapsed);
      const t = final.timings;
      const diff = (a: string | null, b: string | null) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);
      stages.queueWait.push(diff(t.submittedAt, t.dispatchedAt));
      stages.start.push(diff(t.dispatchedAt, t.startedAt));
      stages.run.push(diff(t.startedAt, t.finishedAt));
      stages.store.push(diff(t.finishedAt, t.storedAt));
      stages.submitToStored.push(diff(t.submittedAt, t.storedAt));
    }
    const submitToTerminal = summarize(samples);
    const plainPython = summarize(plain);
    return {
      sandbox: options.sandbox,
      plainPython,
      submitToTerminal,
      stages: {
        queueWait: summarize(stages.queueWait),
        start: summarize(stages.start),
        run: summarize(stages.run),
        store: summarize(stages.store),
        submitToStored: summarize(stages.submitToStored),
      },
      ratioToPlainPython: submitToTerminal.median / plainPython.median,
    };
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function timeProcess(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', () => resolve(performance.now() - t0));
  });
}

async function startServerProcess(
  dataDir: string,
  sandbox: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--sandbox', sandbox, '--rate-limit', '0'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr.on('data', (data: Buffer) => {
      seen += data.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(seen);
      if (match?.[1]) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${seen}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
