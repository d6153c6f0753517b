import type { CommandSpec } from '../parser.js';

export const benchCommand: CommandSpec = {
  name: 'bench',
  description: 'measure submit→terminal latency of print(1) over HTTP against plain Python startup',
  options: [
    {
      flags: '-n, --iterations <n>',
      description: 'measured runs (after 5 warm-up runs)',
      defaultValue: '50',
    },
    { flags: '--sandbox <isolation>', description: 'bwrap | gvisor | none', defaultValue: 'bwrap' },
    { flags: '--json', description: 'print machine-readable figures' },
  ],
  run: async (_args, flags) => {
    const [{ benchLocal }, { formatLocalBench }] = await Promise.all([
      import('../../bench/local-bench.js'),
      import('../../bench/format.js'),
    ]);
    const result = await benchLocal({
      iterations: Number(flags.iterations),
      sandbox: flags.sandbox as 'bwrap' | 'gvisor' | 'none',
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(
      flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatLocalBench(result)}\n`,
    );
  },
};
