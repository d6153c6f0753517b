import { performance } from 'node:perf_hooks';
import { Crucible, type Submission } from '../client/index.js';
import { table } from '../format/table.js';

export interface BatchBenchOptions {
  readonly baseUrl: string;
  /** Items per measurement; default 1,000 (the largest batch). */
  readonly items?: number;
  readonly log?: (line: string) => void;
}

export interface BatchBenchResult {
  readonly items: number;
  /** One `POST /v1/batches` of `items` submissions, until its answer (all stored), ms. */
  readonly batchMs: number;
  /** `items` `POST /v1/evaluations` one after another (as a simple client loop does), until the last answer, ms. */
  readonly singleMs: number;
}

const submission = (i: number): Submission => ({
  language: 'python',
  code: `print(${i})`,
  labels: { bench: 'batch' },
});

/**
 * Submitting a benchmark's worth of samples: one batch of 1,000 next to 1,000 single submissions, measured in
 * the same run against the same server (through the SDK). The batch goes first, on an idle server, and is
 * waited on until its items have run, so the single submissions do not compete with its runs for the CPU;
 * the singles' own runs start while they are being submitted, as they would for any client.
 */
export async function benchBatch(options: BatchBenchOptions): Promise<BatchBenchResult> {
  const items = options.items ?? 1000;
  const client = new Crucible({ baseUrl: options.baseUrl });
  // Warm-up: connections, JIT, prepared statements of both paths.
  const warm = await client.submitBatch(Array.from({ length: 10 }, (_, i) => submission(i)));
  for (let i = 0; i < 10; i++) await client.submit(submission(i));
  await client.waitBatch(warm.id);

  options.log?.(`batch: one batch of ${items} items, then ${items} single submissions`);
  const batchStart = performance.now();
  const batch = await client.submitBatch(Array.from({ length: items }, (_, i) => submission(i)));
  const batchMs = performance.now() - batchStart;
  await client.waitBatch(batch.id);

  const singleStart = performance.now();
  for (let i = 0; i < items; i++) await client.submit(submission(i));
  const singleMs = performance.now() - singleStart;
  return { items, batchMs, singleMs };
}

export function formatBatchBench(result: BatchBenchResult): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return (
    `submitting ${result.items} evaluations (stored and queued; SDK over HTTP)\n` +
    table([
      ['how', 'total', 'per item'],
      [`1 batch of ${result.items}`, ms(result.batchMs), ms(result.batchMs / result.items)],
      [`${result.items} single submissions`, ms(result.singleMs), ms(result.singleMs / result.items)],
    ]) +
    `\nbatch: ${(result.singleMs / result.batchMs).toFixed(1)}× faster than one request per item`
  );
}
