import {
  CrucibleError,
  isTerminal,
  type Crucible,
  type Priority,
  type Status,
  type Submission,
  type SubmittedBatch,
} from '../../client/index.js';
import { table } from '../../format/table.js';
import type { Flags } from '../parser.js';

/** The most items one `POST /v1/batches` takes: a longer file goes in several batches. */
export const CHUNK = 1000;

const fs = process.getBuiltinModule('node:fs');

/** One line of the file, as it will be sent. */
interface Line {
  readonly number: number;
  readonly submission: Submission;
}

/** What the progress display needs: told how many items are done, then closed. */
interface Progress {
  update(done: number): void;
  stop(): void;
}

/**
 * `crucible run --batch FILE.jsonl`: every line a submission (blank lines skipped). The whole file is read and
 * checked first — a bad line is reported with its number and nothing is sent — then sent in batches of at most
 * 1,000. While the items run, a progress bar on stderr (plain lines when stderr is not a terminal); at the end a
 * summary on stdout: counts by status and the items that did not succeed. Answers the exit code: 0 when every
 * item succeeded, 1 otherwise.
 */
export async function runBatch(client: Crucible, file: string, flags: Flags): Promise<number> {
  const lines = readLines(file, flags);
  const labels = flags.label as Record<string, string> | undefined;
  const batches: SubmittedBatch[] = [];
  for (let at = 0; at < lines.length; at += CHUNK) {
    const chunk = lines.slice(at, at + CHUNK);
    try {
      batches.push(
        await client.submitBatch(
          chunk.map((line) => line.submission),
          labels && Object.keys(labels).length ? { labels } : {},
        ),
      );
    } catch (error) {
      throw refusedLine(error, chunk, batches);
    }
  }
  const lineOf = new Map<string, number>();
  batches.forEach((batch, b) =>
    batch.evaluationIds.forEach((id, i) => lineOf.set(id, lines[b * CHUNK + i]!.number)),
  );
  process.stderr.write(
    `crucible: submitted ${lines.length} item${lines.length === 1 ? '' : 's'} in ` +
      `${batches.map((b) => b.id).join(', ')}\n`,
  );
  const progress = await progressOn(lines.length);
  try {
    await followToEnd(client, batches, progress);
  } finally {
    progress.stop();
  }
  return summarize(client, batches, lineOf);
}

/** The file's submissions; the first bad line throws, naming its number. `--language` etc. are defaults. */
function readLines(file: string, flags: Flags): Line[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
  const defaults = {
    ...(flags.language ? { language: String(flags.language) } : {}),
    ...(flags.timeout ? { timeoutSeconds: Number(flags.timeout) } : {}),
    ...(flags.memory ? { memoryMb: Number(flags.memory) } : {}),
    ...(flags.priority ? { priority: flags.priority as Priority } : {}),
  };
  const lines: Line[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.trim() === '') return;
    const where = `${file}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new Error(`${where}: not JSON (${(error as Error).message}); nothing was sent`, {
        cause: error,
      });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error(`${where}: each line must be a submission object; nothing was sent`);
    }
    const submission: Record<string, unknown> = { ...defaults, ...(value as Record<string, unknown>) };
    for (const field of ['language', 'code'] as const) {
      if (typeof submission[field] !== 'string') {
        throw new Error(`${where}: "${field}" must be a string; nothing was sent`);
      }
    }
    lines.push({ number: index + 1, submission: submission as unknown as Submission });
  });
  if (lines.length === 0) throw new Error(`${file} holds no submissions`);
  return lines;
}

/** The server refused a chunk: name the file's line when it named an item. */
function refusedLine(error: unknown, chunk: readonly Line[], sent: readonly SubmittedBatch[]): unknown {
  if (!(error instanceof CrucibleError)) return error;
  const item = /^items\.(\d+)(?:\.(.*))?$/.exec(error.field ?? '');
  const line = item ? chunk[Number(item[1])] : undefined;
  const already = sent.length
    ? ` (${sent.length * CHUNK} earlier items were sent: ${sent.map((b) => b.id).join(', ')})`
    : '; nothing was sent';
  if (!line) return new Error(`${error.message}${already}`);
  return new Error(`line ${line.number}${item?.[2] ? ` (${item[2]})` : ''}: ${error.message}${already}`);
}

/**
 * Counts items done from the event stream (no polling), from the first item's `queued` transition on, until
 * every item is terminal; then asks each batch, which the store answers, to be sure.
 */
async function followToEnd(client: Crucible, batches: readonly SubmittedBatch[], progress: Progress) {
  const pending = new Set(batches.flatMap((b) => b.evaluationIds));
  const total = pending.size;
  const [first] = await client.transitions(batches[0]!.evaluationIds[0]!);
  const controller = new AbortController();
  try {
    for await (const t of client.events({ after: (first?.seq ?? 1) - 1, signal: controller.signal })) {
      if (isTerminal(t.to) && pending.delete(t.evaluationId)) progress.update(total - pending.size);
      if (pending.size === 0) break;
    }
  } catch (error) {
    // The stream is only the display: the waits below still tell when everything is done.
    if (!controller.signal.aborted) process.stderr.write(`crucible: events stopped: ${String(error)}\n`);
  } finally {
    controller.abort();
  }
  for (const batch of batches) await client.waitBatch(batch.id);
  progress.update(total);
}

/** A bar when stderr is a terminal (cli-progress, loaded only here), else a line every tenth. */
async function progressOn(total: number): Promise<Progress> {
  if (process.stderr.isTTY) {
    const { SingleBar, Presets } = await import('cli-progress');
    const bar = new SingleBar(
      {
        stream: process.stderr,
        format: ' {bar} {value}/{total} done | {percentage}% | {duration_formatted}',
      },
      Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  let shown = -1;
  return {
    update(done) {
      const step = Math.floor((done * 10) / total);
      if (step <= shown) return;
      shown = step;
      process.stderr.write(`${done}/${total} done\n`);
    },
    stop: () => undefined,
  };
}

/** The table on stdout; the exit code (1 when any item did not succeed). */
async function summarize(
  client: Crucible,
  batches: readonly SubmittedBatch[],
  lineOf: ReadonlyMap<string, number>,
): Promise<number> {
  const counts = new Map<Status, number>();
  const unsuccessful: { id: string; status: Status; line: number }[] = [];
  for (const submitted of batches) {
    const batch = await client.batch(submitted.id);
    for (const [status, n] of Object.entries(batch.byStatus) as [Status, number][]) {
      if (n > 0) counts.set(status, (counts.get(status) ?? 0) + n);
      if (n === 0 || status === 'succeeded') continue;
      for await (const e of client.listAll({ batch: submitted.id, status, limit: 500 })) {
        unsuccessful.push({ id: e.id, status, line: lineOf.get(e.id) ?? 0 });
      }
    }
  }
  const out: string[] = [table([['status', 'items'], ...[...counts].map(([s, n]) => [s, String(n)])])];
  if (unsuccessful.length > 0) {
    unsuccessful.sort((a, b) => a.line - b.line);
    out.push(
      '',
      table([['line', 'status', 'id'], ...unsuccessful.map((u) => [String(u.line), u.status, u.id])]),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return unsuccessful.length > 0 ? 1 : 0;
}
