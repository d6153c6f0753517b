import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { table } from '../format/table.js';
import { treeCpuMs } from './cpu.js';
import { printOneTask } from './evaluation-task.js';
import { closedLoop, summarizeLoad, type LoadResult, type LoadWindow } from './load.js';
import { startBenchServer } from './server-process.js';

export interface TracingBenchResult {
  readonly concurrency: number;
  readonly off: LoadResult;
  readonly on: LoadResult;
  /** Spans the OTLP receiver got from the traced server (a trace per evaluation, ~8 spans each). */
  readonly spansReceived: number;
}

export interface TracingBenchOptions {
  readonly log: (line: string) => void;
  readonly concurrency?: number;
  readonly windows?: number;
  readonly windowMs?: number;
}

/** An OTLP/HTTP receiver that counts the spans it is sent and keeps nothing. */
async function otlpSink(): Promise<{ url: string; spans: () => number; close: () => Promise<void> }> {
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      spans += (
        Buffer.concat(chunks)
          .toString()
          .match(/"spanId"/g) ?? []
      ).length;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The cost of tracing: two `crucible serve` processes (bwrap), one exporting every evaluation's trace to a
 * local OTLP receiver and one without tracing, driven by the same closed loop of `print(1)` at 8 clients in
 * alternating windows (so both see the same machine load). Goal: no measurable change.
 */
export async function benchTracing(options: TracingBenchOptions): Promise<TracingBenchResult> {
  const concurrency = options.concurrency ?? 8;
  const windows = options.windows ?? 4;
  const windowMs = options.windowMs ?? 5000;
  const sink = await otlpSink();
  const off = await startBenchServer({ sandbox: 'bwrap' });
  const on = await startBenchServer({
    sandbox: 'bwrap',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_SCHEDULE_DELAY: '200' },
  });
  try {
    const offTask = printOneTask(off.url);
    const onTask = printOneTask(on.url);
    // Warm both (first runs fill the sandbox pool and JIT the paths).
    await closedLoop(concurrency, 1500, offTask);
    await closedLoop(concurrency, 1500, onTask);
    const offWindows: LoadWindow[] = [];
    const onWindows: LoadWindow[] = [];
    for (let i = 0; i < windows; i++) {
      options.log(`tracing bench: window ${i + 1}/${windows}`);
      // CPU of each server and its sandboxes (not the machine's): the steadier figure on a shared machine.
      offWindows.push(await closedLoop(concurrency, windowMs, offTask, () => treeCpuMs(off.pid)));
      onWindows.push(await closedLoop(concurrency, windowMs, onTask, () => treeCpuMs(on.pid)));
    }
    return {
      concurrency,
      off: summarizeLoad(offWindows),
      on: summarizeLoad(onWindows),
      spansReceived: sink.spans(),
    };
  } finally {
    await Promise.all([off.stop(), on.stop()]);
    await sink.close();
  }
}

export function formatTracingBench(result: TracingBenchResult): string {
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const row = (label: string, r: LoadResult) => [
    label,
    `${r.throughput.toFixed(1)} req/s`,
    ms(r.latency.median),
    ms(r.latency.p95),
    r.cpuMsPerRequest === null ? '-' : `${r.cpuMsPerRequest.toFixed(1)} ms`,
  ];
  const ratio = result.on.throughput / result.off.throughput;
  const { on, off } = { on: result.on.cpuMsPerRequest, off: result.off.cpuMsPerRequest };
  const cpuRatio = on !== null && off !== null && off > 0 ? `${(on / off).toFixed(2)}×` : '-';
  return (
    `tracing cost, print(1) at ${result.concurrency} clients (alternating windows)\n` +
    `${table([
      ['server', 'throughput', 'p50', 'p95', 'CPU per request'],
      row('tracing off (floor)', result.off),
      row('tracing on (OTLP/HTTP to a local receiver)', result.on),
    ])}\n` +
    `on/off throughput ${ratio.toFixed(2)}×, CPU per request ${cpuRatio}, ${result.spansReceived} spans exported; ` +
    `goal: no measurable change (within the ±15 % run-to-run noise of this machine)`
  );
}
