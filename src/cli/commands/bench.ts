import type { Command } from 'commander';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('measure submit→terminal latency of print(1) over HTTP against plain Python startup')
    .option('-n, --iterations <n>', 'measured runs (after 5 warm-up runs)', '50')
    .option('--sandbox <isolation>', 'bwrap | gvisor | none', 'bwrap')
    .option('--json', 'print machine-readable figures')
    .action(async (flags: { iterations: string; sandbox: 'bwrap' | 'gvisor' | 'none'; json?: boolean }) => {
      const [{ benchLocal }, { formatLocalBench }] = await Promise.all([
        import('../../bench/local-bench.js'),
        import('../../bench/format.js'),
      ]);
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
