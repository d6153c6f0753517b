/**
 * `npm run bench`: every benchmark, printed as tables (`--json` for machine-readable figures).
 * 1. Local runtime: submit→terminal of print(1) over HTTP against a real server process, next to plain
 *    `python3 -c 'print(1)'` startup measured in the same run.
 * 2. Kubernetes runtime on the fake API server: watch event → observed transition lag (watch vs poll
 *    monitor), and print(1) end to end.
 */
import { benchLocal } from '../src/bench/local-bench.js';
import { table } from '../src/cli/output.js';
import { formatLocalBench } from '../src/cli/commands/bench.js';
import { benchKubernetes } from './kubernetes.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stderr.write(`${line}\n`);

log('benchmark 1/2: local runtime (bwrap) over HTTP');
const local = await benchLocal({ iterations: 50, sandbox: 'bwrap', log });
log('benchmark 2/2: kubernetes runtime on the fake API server');
const kubernetes = await benchKubernetes();

if (json) {
  process.stdout.write(`${JSON.stringify({ local, kubernetes }, null, 2)}\n`);
} else {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  process.stdout.write(`${formatLocalBench(local)}\n\n`);
  process.stdout.write(
    `kubernetes runtime (fake API server, pods run in the local sandbox), ${kubernetes.samples} samples\n` +
      `${table([
        ['measure', 'p50', 'p95', 'p99'],
        [
          'watch event → transition (watch monitor)',
          ms(kubernetes.watchLagMs.p50),
          ms(kubernetes.watchLagMs.p95),
          ms(kubernetes.watchLagMs.p99),
        ],
        [
          'watch event → transition (poll monitor, 1 s)',
          ms(kubernetes.pollLagMs.p50),
          ms(kubernetes.pollLagMs.p95),
          ms(kubernetes.pollLagMs.p99),
        ],
        ['print(1) end to end', ms(kubernetes.printOneMs.median), ms(kubernetes.printOneMs.p95), '-'],
      ])}\n` +
      `goal: watch lag p99 ≤ 100 ms (the seeds' polling system took 10–15 s)\n`,
  );
}
