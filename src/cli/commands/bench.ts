import type { Command } from 'commander';
import { benchLocal } from '../../bench/local-bench.js';
import type { Summary } from '../../bench/stats.js';
import { table } from '../output.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('measure submit→terminal latency of print(1) over HTTP against plain Python startup')
    .option('-n, --iterations <n>', 'measured runs (after 5 warm-up runs)', '50')
    .option('--sandbox <isolation>', 'bwrap | gvisor | none', 'bwrap')
    .option('--json', 'print machine-readable figures')
    .action(async (flags: { iterations: string; sandbox: 'bwrap' | 'gvisor' | 'none'; json?: boolean }) => {
      const result = await benchLocal({
        iterations: Number(flags.iterations),
        sandbox: flags.sandbox,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${formatLocalBench(result)}\n`);
    });
}

export function formatLocalBench(result: Awaited<ReturnType<typeof benchLocal>>): string {
  const row = (name: string, s: Summary) => [name, ms(s.median), ms(s.p95), ms(s.p99), String(s.n)];
  return [
    `local runtime (${result.sandbox}), print(1) in python`,
    table([
      ['measure', 'median', 'p95', 'p99', 'n'],
      row('plain python3 -c print(1)', result.plainPython),
      row('HTTP submit → terminal', result.submitToTerminal),
      row('  stage: queue wait', result.stages.queueWait),
      row('  stage: dispatch → started', result.stages.start),
      row('  stage: started → finished', result.stages.run),
      row('  stage: finished → stored', result.stages.store),
      row('  stored: submitted → stored', result.stages.submitToStored),
    ]),
    `ratio (median submit→terminal / median plain python): ${result.ratioToPlainPython.toFixed(2)}×`,
  ].join('\n');
}

function ms(value: number): string {
  return Number.isNaN(value) ? '-' : `${value.toFixed(1)} ms`;
}
