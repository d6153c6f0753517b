import type { LogStream, Status } from '../../client/index.js';
import { table } from '../../format/table.js';
import { describe } from '../output.js';
import type { CommandSpec } from '../parser.js';
import { clientOf } from './client-of.js';
import { runCommand, writeLogLine } from './run.js';

const statusCommand: CommandSpec = {
  name: 'status',
  description: 'show one evaluation',
  args: [{ name: 'id', description: 'evaluation id' }],
  options: [
    { flags: '-w, --wait <seconds>', description: 'wait up to this long for it to finish' },
    { flags: '--json', description: 'print the evaluation as JSON' },
  ],
  run: async ([id = ''], flags) => {
    const evaluation = await clientOf(flags).get(id, Number(flags.wait ?? 0));
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(evaluation, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${describe(evaluation)}\n`);
    for (const [stage, at] of Object.entries(evaluation.timings)) {
      process.stdout.write(`  ${stage.padEnd(13)} ${at ?? '-'}\n`);
    }
  },
};

const logsCommand: CommandSpec = {
  name: 'logs',
  description: 'print an evaluation’s output (stdout to stdout, stderr to stderr)',
  args: [{ name: 'id', description: 'evaluation id' }],
  options: [
    { flags: '-f, --follow', description: 'keep streaming until the evaluation ends' },
    { flags: '--stream <stream>', description: 'stdout | stderr | all', defaultValue: 'all' },
  ],
  run: async ([id = ''], flags) => {
    const lines = clientOf(flags).logs(id, flags.follow === true, flags.stream as LogStream | 'all');
    for await (const line of lines) writeLogLine(line);
  },
};

const cancelCommand: CommandSpec = {
  name: 'cancel',
  description: 'cancel an evaluation (a finished one is left as it is)',
  args: [{ name: 'id', description: 'evaluation id' }],
  options: [{ flags: '--json', description: 'print the evaluation as JSON' }],
  run: async ([id = ''], flags) => {
    const evaluation = await clientOf(flags).cancel(id);
    process.stdout.write(
      flags.json ? `${JSON.stringify(evaluation, null, 2)}\n` : `${describe(evaluation)}\n`,
    );
  },
};

const lsCommand: CommandSpec = {
  name: 'ls',
  description: 'list evaluations, newest first',
  options: [
    { flags: '--status <status>', description: 'only this status' },
    { flags: '--label <key=value>', description: 'only evaluations with this label' },
    { flags: '-n, --limit <n>', description: 'how many', defaultValue: '20' },
    { flags: '--cursor <cursor>', description: 'continue from a previous page' },
    { flags: '--json', description: 'print the page as JSON' },
  ],
  run: async (_args, flags) => {
    const page = await clientOf(flags).list({
      status: flags.status as Status | undefined,
      label: flags.label as string | undefined,
      limit: flags.limit as string,
      cursor: flags.cursor as string | undefined,
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    const rows = page.items.map((e) => [
      e.id,
      e.status,
      e.language,
      e.priority,
      e.createdAt,
      e.result?.durationMs === null || e.result?.durationMs === undefined ? '-' : `${e.result.durationMs}ms`,
    ]);
    process.stdout.write(
      `${table([['ID', 'STATUS', 'LANGUAGE', 'PRIORITY', 'CREATED', 'DURATION'], ...rows])}\n`,
    );
    if (page.nextCursor) process.stdout.write(`more: crucible ls --cursor ${page.nextCursor}\n`);
  },
};

/** The commands that talk to a server through the SDK. */
export const evaluationCommands: readonly CommandSpec[] = [
  runCommand,
  statusCommand,
  logsCommand,
  cancelCommand,
  lsCommand,
];
