import type { CommandSpec } from '../parser.js';
import { clientOf } from './client-of.js';

const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

/** `crucible prune [--older-than AGE] [--dry-run]` (admins): one retention pass now, through the SDK. */
export const pruneCommand: CommandSpec = {
  name: 'prune',
  description:
    'delete terminal evaluations older than the retention (or --older-than), with logs and artifacts',
  options: [
    { flags: '--older-than <age>', description: 'e.g. 30d, 12h, 90m (default: the server’s --retention)' },
    { flags: '--dry-run', description: 'count what would be deleted, delete nothing' },
    { flags: '--json', description: 'print the report as JSON' },
  ],
  helpAfter: '\nExamples:\n  crucible prune --dry-run\n  crucible prune --older-than 30d\n',
  run: async (_args, flags) => {
    const report = await clientOf(flags).prune({
      ...(typeof flags.olderThan === 'string' ? { olderThan: flags.olderThan } : {}),
      dryRun: flags.dryRun === true,
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const verb = report.dryRun ? 'would delete' : 'deleted';
    const before = report.cutoff ? ` finished before ${report.cutoff}` : '';
    process.stdout.write(
      `${verb} ${report.evaluations} evaluations and ${report.objects} objects${before} ` +
        `in ${report.durationMs} ms; store ${mib(report.storeBytesBefore)} → ${mib(report.storeBytesAfter)} MiB\n`,
    );
    for (const rule of report.rules) {
      process.stdout.write(`  ${rule.rule}: ${rule.evaluations} finished before ${rule.cutoff}\n`);
    }
  },
};
