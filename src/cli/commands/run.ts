import path from 'node:path';
import {
  decodeLogLine,
  type Crucible,
  type Evaluation,
  type LogLine,
  type Priority,
  type Submission,
} from '../../client/index.js';
import { LANGUAGE_IDS, languageForFile } from '../../core/languages.js';
import { describe, exitCodeOf } from '../output.js';
import type { CommandSpec, Flags } from '../parser.js';
import { clientOptionsOf } from './client-of.js';
import { withLocalFallback } from './local-fallback.js';

// getBuiltinModule, not an ESM import of node:fs: that one evaluates fs.promises (and readline), ~20 ms.
const fs = process.getBuiltinModule('node:fs');

function addLabel(value: string, previous: unknown): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`--label takes key=value, got "${value}"`);
  return { ...(previous as Record<string, string>), [value.slice(0, eq)]: value.slice(eq + 1) };
}

export const runCommand: CommandSpec = {
  name: 'run',
  description: 'submit a file, stream its output live, and exit with the program’s exit code',
  args: [{ name: 'file', description: 'source file to run (a JSONL file of submissions with --batch)' }],
  options: [
    {
      flags: '-l, --language <language>',
      description: `one of ${LANGUAGE_IDS.join(', ')} (default: from the file extension)`,
    },
    { flags: '-t, --timeout <seconds>', description: 'wall-time limit' },
    { flags: '-m, --memory <mb>', description: 'memory limit in MiB' },
    { flags: '--priority <priority>', description: 'low | normal | high' },
    {
      flags: '--label <key=value>',
      description: 'label the evaluation (repeatable)',
      collect: { initial: {}, add: addLabel },
    },
    { flags: '--stdin <file>', description: 'file to feed on standard input ("-" for this process’s stdin)' },
    { flags: '--json', description: 'print the final evaluation as JSON instead of streaming output' },
    { flags: '--no-local', description: 'fail instead of running in-process when no server is reachable' },
    {
      flags: '--batch',
      description:
        'FILE is JSONL, a submission per line: send them as batches of up to 1000, show progress, then a summary',
    },
  ],
  helpAfter:
    '\nExit codes: the program’s own; 128+N if killed by signal N; 124 timed out; 130 cancelled;\n' +
    '125 the platform could not run it (or bad usage).\n\nExamples:\n  crucible run hello.py\n' +
    '  crucible run job.js --timeout 5 --label team=evals --json\n' +
    '  crucible run --batch samples.jsonl --label suite=humaneval\n',
  run: async ([file = ''], flags) => {
    if (flags.batch) {
      // Loaded only for --batch: the plain `run` start-up path stays as it was.
      const { runBatch } = await import('./run-batch.js');
      process.exitCode = await withLocalFallback(clientOptionsOf(flags), flags.local !== false, (client) =>
        runBatch(client, file, flags),
      );
      return;
    }
    const body = await submissionOf(file, flags);
    process.exitCode = await withLocalFallback(
      clientOptionsOf(flags),
      flags.local !== false,
      async (client) => {
        const final = await runToEnd(client, body, !flags.json);
        if (flags.json) process.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
        else if (final.status !== 'succeeded') process.stderr.write(`crucible: ${describe(final)}\n`);
        return exitCodeOf(final);
      },
    );
  },
};

async function submissionOf(file: string, flags: Flags): Promise<Submission> {
  const code = readText(file);
  const language = (flags.language as string | undefined) ?? languageForFile(file)?.id;
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
        : readText(String(flags.stdin));
  const labels = flags.label as Record<string, string>;
  return {
    language,
    code,
    ...(stdin === undefined ? {} : { stdin }),
    ...(flags.timeout ? { timeoutSeconds: Number(flags.timeout) } : {}),
    ...(flags.memory ? { memoryMb: Number(flags.memory) } : {}),
    ...(flags.priority ? { priority: flags.priority as Priority } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
  };
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

export function writeLogLine(line: LogLine): void {
  (line.stream === 'stderr' ? process.stderr : process.stdout).write(decodeLogLine(line));
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
