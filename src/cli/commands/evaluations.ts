import path from 'node:path';
import type { Command } from 'commander';
import { LANGUAGE_IDS, languageForFile } from '../../core/languages.js';
import {
  Crucible,
  decodeLogLine,
  type Evaluation,
  type LogLine,
  type LogStream,
  type Priority,
  type Status,
  type Submission,
} from '../../client/index.js';
import { table } from '../../format/table.js';
import { describe, exitCodeOf } from '../output.js';
import { withLocalFallback } from './local-fallback.js';

interface GlobalFlags {
  url?: string;
}

function clientOf(command: Command): Crucible {
  const flags = command.optsWithGlobals<GlobalFlags>();
  // The SDK falls back to CRUCIBLE_URL, then http://127.0.0.1:8080.
  return new Crucible(flags.url ? { baseUrl: flags.url } : {});
}

function collectLabel(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`--label takes key=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

interface RunFlags {
  language?: string;
  timeout?: string;
  memory?: string;
  priority?: string;
  label: Record<string, string>;
  stdin?: string;
  json?: boolean;
  local?: boolean;
}

export function registerEvaluationCommands(program: Command): void {
  program
    .command('run')
    .description('submit a file, stream its output live, and exit with the program’s exit code')
    .argument('<file>', 'source file to run')
    .option(
      '-l, --language <language>',
      `one of ${LANGUAGE_IDS.join(', ')} (default: from the file extension)`,
    )
    .option('-t, --timeout <seconds>', 'wall-time limit')
    .option('-m, --memory <mb>', 'memory limit in MiB')
    .option('--priority <priority>', 'low | normal | high')
    .option('--label <key=value>', 'label the evaluation (repeatable)', collectLabel, {})
    .option('--stdin <file>', 'file to feed on standard input ("-" for this process’s stdin)')
    .option('--json', 'print the final evaluation as JSON instead of streaming output')
    .option('--no-local', 'fail instead of running in-process when no server is reachable')
    .addHelpText(
      'after',
      '\nExit codes: the program’s own; 128+N if killed by signal N; 124 timed out; 130 cancelled;\n' +
        '125 the platform could not run it (or bad usage).\n\nExamples:\n  npx crucible run hello.py\n' +
        '  npx crucible run job.js --timeout 5 --label team=evals --json',
    )
    .action(async (file: string, flags: RunFlags, command: Command) => {
      const code = readText(file);
      const language = flags.language ?? languageForFile(file)?.id;
      if (!language) {
        throw new Error(
          `cannot tell the language of ${path.basename(file)}; pass --language (${LANGUAGE_IDS.join(', ')})`,
        );
      }
      const stdin =
        flags.stdin === undefined
          ? undefined
          : flags.stdin === '-'
            ? await readStdin()
            : readText(flags.stdin);
      const body: Submission = {
        language,
        code,
        ...(stdin === undefined ? {} : { stdin }),
        ...(flags.timeout ? { timeoutSeconds: Number(flags.timeout) } : {}),
        ...(flags.memory ? { memoryMb: Number(flags.memory) } : {}),
        ...(flags.priority ? { priority: flags.priority as Priority } : {}),
        ...(Object.keys(flags.label).length ? { labels: flags.label } : {}),
      };
      const exitCode = await withLocalFallback(clientOf(command), flags.local !== false, async (client) => {
        const final = await runToEnd(client, body, !flags.json);
        if (flags.json) process.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
        else if (final.status !== 'succeeded') process.stderr.write(`crucible: ${describe(final)}\n`);
        return exitCodeOf(final);
      });
      process.exitCode = exitCode;
    });

  program
    .command('status')
    .description('show one evaluation')
    .argument('<id>', 'evaluation id')
    .option('-w, --wait <seconds>', 'wait up to this long for it to finish')
    .option('--json', 'print the evaluation as JSON')
    .action(async (id: string, flags: { wait?: string; json?: boolean }, command: Command) => {
      const evaluation = await clientOf(command).get(id, Number(flags.wait ?? 0));
      if (flags.json) process.stdout.write(`${JSON.stringify(evaluation, null, 2)}\n`);
      else {
        process.stdout.write(`${describe(evaluation)}\n`);
        for (const [stage, at] of Object.entries(evaluation.timings)) {
          process.stdout.write(`  ${stage.padEnd(13)} ${at ?? '-'}\n`);
        }
      }
    });

  program
    .command('logs')
    .description('print an evaluation’s output (stdout to stdout, stderr to stderr)')
    .argument('<id>', 'evaluation id')
    .option('-f, --follow', 'keep streaming until the evaluation ends')
    .option('--stream <stream>', 'stdout | stderr | all', 'all')
    .action(async (id: string, flags: { follow?: boolean; stream: string }, command: Command) => {
      const lines = clientOf(command).logs(id, flags.follow === true, flags.stream as LogStream | 'all');
      for await (const line of lines) writeLogLine(line);
    });

  program
    .command('cancel')
    .description('cancel an evaluation (a finished one is left as it is)')
    .argument('<id>', 'evaluation id')
    .option('--json', 'print the evaluation as JSON')
    .action(async (id: string, flags: { json?: boolean }, command: Command) => {
      const evaluation = await clientOf(command).cancel(id);
      process.stdout.write(
        flags.json ? `${JSON.stringify(evaluation, null, 2)}\n` : `${describe(evaluation)}\n`,
      );
    });

  program
    .command('ls')
    .description('list evaluations, newest first')
    .option('--status <status>', 'only this status')
    .option('--label <key=value>', 'only evaluations with this label')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--json', 'print the page as JSON')
    .action(async (flags: Record<string, string | boolean | undefined>, command: Command) => {
      const page = await clientOf(command).list({
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
        e.result?.durationMs === null || e.result?.durationMs === undefined
          ? '-'
          : `${e.result.durationMs}ms`,
      ]);
      process.stdout.write(
        `${table([['ID', 'STATUS', 'LANGUAGE', 'PRIORITY', 'CREATED', 'DURATION'], ...rows])}\n`,
      );
      if (page.nextCursor) process.stdout.write(`more: crucible ls --cursor ${page.nextCursor}\n`);
    });
}

// getBuiltinModule, not an ESM import of node:fs: that one evaluates fs.promises (and readline), ~20 ms.
const fs = process.getBuiltinModule('node:fs');

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
}

/** Runs the submission to its end, streaming its output; once submitted, a Ctrl-C cancels it. */
async function runToEnd(client: Crucible, body: Submission, streamOutput: boolean): Promise<Evaluation> {
  let cancelOnInterrupt: (() => void) | undefined;
  try {
    return await client.run(body, {
      onSubmitted: ({ id }) => {
        cancelOnInterrupt = () => {
          process.stderr.write(`\ncancelling ${id}\n`);
          client.cancel(id).catch((error: unknown) => {
            process.stderr.write(`crucible: could not cancel ${id}: ${String(error)}\n`);
          });
        };
        process.once('SIGINT', cancelOnInterrupt);
      },
      ...(streamOutput ? { onOutput: writeLogLine } : {}),
    });
  } finally {
    if (cancelOnInterrupt) process.off('SIGINT', cancelOnInterrupt);
  }
}

function writeLogLine(line: LogLine): void {
  (line.stream === 'stderr' ? process.stderr : process.stdout).write(decodeLogLine(line));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
