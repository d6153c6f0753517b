import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Crucible } from '../client/index.js';
import { applyEvent, DEFAULT_LIMITS, initialTimings, type Evaluation } from '../core/index.js';
import { table } from '../format/table.js';
import { createSqliteStore } from '../store/sqlite/index.js';
import { startBenchServer } from './server-process.js';
import { summarize, type Summary } from './stats.js';

export interface DashboardBenchResult {
  readonly evaluations: number;
  /** Navigation → the first rows of the list on screen, cold cache (ms). */
  readonly firstRowsMs: Summary;
  /** The browser's own first contentful paint (ms). */
  readonly firstPaintMs: Summary;
  /** Floor: the page and the first list page fetched by a plain HTTP client (ms). */
  readonly fetchFloorMs: Summary;
  /** API submission → its row in the list (ms). */
  readonly liveLagMs: Summary;
  /** Floor: API submission → its transition on a plain `/v1/events` client (ms). */
  readonly sseFloorMs: Summary;
}

export interface DashboardBenchOptions {
  readonly log: (line: string) => void;
  readonly evaluations?: number;
  readonly samples?: number;
  readonly chromium?: string;
}

/** Terminal evaluations straight into the store, as a long-running server would hold them. */
async function fill(dataDir: string, count: number): Promise<void> {
  const store = createSqliteStore({ path: path.join(dataDir, 'crucible.db') });
  await store.migrate();
  const now = new Date();
  for (let i = 0; i < count; i++) {
    const at = new Date(now.getTime() - (count - i) * 1000).toISOString();
    const queued: Evaluation = {
      id: randomUUID(),
      status: 'queued',
      language: i % 3 === 0 ? 'javascript' : 'python',
      code: `print(${i})`,
      stdin: '',
      priority: 'normal',
      labels: { team: `t${i % 10}` },
      limits: DEFAULT_LIMITS,
      runtime: 'bwrap',
      createdAt: at,
      timings: initialTimings(at),
      result: null,
    };
    await store.create(queued);
    const started = new Date(Date.parse(at) + 5);
    const done = applyEvent(
      queued,
      {
        type: 'finished',
        outcome: {
          kind: 'exited',
          exitCode: 0,
          signal: null,
          timedOut: false,
          oomKilled: false,
          startedAt: started,
          finishedAt: new Date(started.getTime() + 20),
          cpuTimeMs: 10,
          peakMemoryBytes: 8 << 20,
          memoryEnforcement: 'cgroup',
        },
        output: { stdoutTruncated: false, stderrTruncated: false },
      },
      new Date(started.getTime() + 22),
    )!;
    await store.saveTransition({
      evaluation: done.evaluation,
      from: 'queued',
      to: done.to,
      at: done.at,
      reason: done.reason,
    });
  }
  await store.close();
}

/** A plain `/v1/events` client, connected on return: `arrival(id)` resolves at the wall-clock ms its first transition arrives. */
async function sseClient(url: string, signal: AbortSignal) {
  const waiters = new Map<string, (at: number) => void>();
  // From the newest transition on, as the dashboard follows (not the 20,000 stored ones).
  const { seq } = (await (await fetch(`${url}/ui/session`)).json()) as { seq: number };
  const response = await fetch(`${url}/v1/events?after=${seq}`, { signal });
  void (async () => {
    const decoder = new TextDecoder();
    let pending = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        for (let i = pending.indexOf('\n\n'); i >= 0; i = pending.indexOf('\n\n')) {
          const frame = pending.slice(0, i);
          pending = pending.slice(i + 2);
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (!data) continue;
          const { evaluationId } = JSON.parse(data) as { evaluationId: string };
          waiters.get(evaluationId)?.(Date.now());
        }
      }
    } catch {
      // Aborted at the end of the bench.
    }
  })();
  return (id: string) => new Promise<number>((resolve) => waiters.set(id, resolve));
}

/**
 * The dashboard with `evaluations` (10,000) terminal evaluations in the store: how long a cold page takes
 * to show the first rows (next to fetching the same bytes with no browser), and how long a submission made
 * through the API takes to appear in the list (next to a plain SSE client's view of the same transition).
 */
export async function benchDashboard(
  options: DashboardBenchOptions,
): Promise<DashboardBenchResult | { skipped: string }> {
  const chromiumPath = options.chromium ?? process.env['CRUCIBLE_CHROMIUM'] ?? '/usr/bin/chromium';
  if (!existsSync(chromiumPath))
    return { skipped: `no browser at ${chromiumPath} (apt-get install chromium)` };
  const count = options.evaluations ?? 10_000;
  const samples = options.samples ?? 10;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'crucible-dashboard-bench-'));
  options.log(`dashboard bench: storing ${count} evaluations`);
  await fill(dataDir, count);
  const server = await startBenchServer({ sandbox: 'bwrap', dataDir });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const abort = new AbortController();
  try {
    const firstRows: number[] = [];
    const firstPaint: number[] = [];
    const fetchFloor: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const html = await (await fetch(`${server.url}/`)).text();
      const script = /src="(\/ui\/[^"]+)"/.exec(html)?.[1] ?? '';
      await Promise.all([
        fetch(`${server.url}${script}`).then((r) => r.arrayBuffer()),
        fetch(`${server.url}/v1/evaluations?limit=200`).then((r) => r.arrayBuffer()),
      ]);
      fetchFloor.push(performance.now() - t0);
      // A new context each time: a first visit, nothing cached.
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const t1 = performance.now();
      await page.goto(`${server.url}/`);
      await page.locator('.row[data-id]').first().waitFor();
      firstRows.push(performance.now() - t1);
      const fcp = await page.evaluate(
        () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
      );
      firstPaint.push(fcp);
      await context.close();
    }
    options.log('dashboard bench: live-update lag');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.locator('.row[data-id]').first().waitFor();
    // Each row's arrival in the DOM, by the wall clock (the same machine's as the bench's).
    // Evaluated in the page (a string: this file has no DOM types).
    await page.evaluate(`(() => {
      const seen = (window.seen = {});
      new MutationObserver((records) => {
        for (const record of records)
          for (const node of record.addedNodes)
            if (node.dataset && node.dataset.id && !seen[node.dataset.id]) seen[node.dataset.id] = Date.now();
      }).observe(document.body, { subtree: true, childList: true });
    })()`);
    const transitionOf = await sseClient(server.url, abort.signal);
    const client = new Crucible({ baseUrl: server.url, retry: { attempts: 1 } });
    const liveLag: number[] = [];
    const sseFloor: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = Date.now();
      const submitted = await client.submit({ language: 'python', code: 'print(1)' });
      const onSse = transitionOf(submitted.id);
      const seen = `window.seen[${JSON.stringify(submitted.id)}]`;
      await page.waitForFunction(`${seen} !== undefined`);
      const shown = (await page.evaluate(seen)) as number;
      liveLag.push(shown - t0);
      sseFloor.push((await onSse) - t0);
      await client.wait(submitted.id, { timeoutSeconds: 30 });
    }
    await context.close();
    return {
      evaluations: count,
      firstRowsMs: summarize(firstRows),
      firstPaintMs: summarize(firstPaint),
      fetchFloorMs: summarize(fetchFloor),
      liveLagMs: summarize(liveLag),
      sseFloorMs: summarize(sseFloor),
    };
  } finally {
    abort.abort();
    await browser.close();
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export function formatDashboardBench(result: DashboardBenchResult | { skipped: string }): string {
  if ('skipped' in result) return `dashboard: skipped, ${result.skipped}`;
  const ms = (s: Summary) => [`${s.median.toFixed(0)} ms`, `${s.p95.toFixed(0)} ms`];
  return (
    `dashboard with ${result.evaluations.toLocaleString('en')} evaluations in the store (Chromium, cold cache)\n` +
    `${table([
      ['measure', 'median', 'p95'],
      ['first rows on screen (navigation → list rendered)', ...ms(result.firstRowsMs)],
      ['first contentful paint', ...ms(result.firstPaintMs)],
      ['floor: page + script + first list page over plain HTTP', ...ms(result.fetchFloorMs)],
      ['live update: API submission → row in the list', ...ms(result.liveLagMs)],
      ['floor: API submission → transition on a plain SSE client', ...ms(result.sseFloorMs)],
    ])}`
  );
}
