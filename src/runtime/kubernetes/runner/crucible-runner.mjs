#!/usr/bin/env node
// crucible-runner: the process that runs inside each evaluation pod, in front of the program.
//
// Why it exists: a container's log interleaves stdout and stderr with no markers, and the split-stream log API
// (KEP-3288) is alpha. The runner keeps the two streams apart by writing every chunk the program produces as
// one framed line on its own stdout, so the kubelet log carries an exact, lossless record:
//
//   o <seq> <base64>                    a chunk of the program's stdout
//   e <seq> <base64>                    a chunk of the program's stderr
//   x <seq> <exitCode|-> <signal|-> <timedOut 0|1>   the program ended (always the last frame)
//
// Frames are whole lines of at most ~11 KiB (below the CRI's 16 KiB line split) whatever the bytes are, so
// missing trailing newlines and partial lines survive; `seq` lets the collector drop duplicates exactly when
// it re-reads the log after a reconnect. It also assembles the payload chunks (see payload.ts), feeds stdin,
// enforces the wall-time limit and the per-stream output cap, and forwards SIGTERM.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, createReadStream } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { Buffer } from 'node:buffer';
import { setTimeout, clearTimeout } from 'node:timers';

const FRAME_BYTES = 8 * 1024;

function parseArgs(argv) {
  const split = argv.indexOf('--');
  const flags = argv.slice(0, split < 0 ? argv.length : split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  const options = { payload: '', workdir: '', stdin: 'stdin', timeoutMs: 0, maxOutput: 0 };
  for (let i = 0; i < flags.length; i += 2) {
    const value = flags[i + 1] ?? '';
    if (flags[i] === '--payload') options.payload = value;
    else if (flags[i] === '--workdir') options.workdir = value;
    else if (flags[i] === '--stdin') options.stdin = value;
    else if (flags[i] === '--timeout-ms') options.timeoutMs = Number(value);
    else if (flags[i] === '--max-output') options.maxOutput = Number(value);
  }
  return { options, command };
}

/** Concatenates `<file>.<nnn>` keys of every mounted ConfigMap into `<workdir>/<file>`. */
function assemblePayload(payloadDir, workdir) {
  const chunks = new Map();
  for (const part of readdirSync(payloadDir)) {
    if (part.startsWith('..')) continue;
    for (const key of readdirSync(join(payloadDir, part))) {
      const match = /^(.+)\.(\d{3})$/.exec(key);
      if (!match) continue;
      const list = chunks.get(match[1]) ?? [];
      list.push({ index: Number(match[2]), path: join(payloadDir, part, key) });
      chunks.set(match[1], list);
    }
  }
  mkdirSync(workdir, { recursive: true });
  for (const [name, list] of chunks) {
    list.sort((a, b) => a.index - b.index);
    writeFileSync(join(workdir, name), Buffer.concat(list.map((c) => readFileSync(c.path))));
  }
}

let seq = 0;
function frame(line) {
  seq += 1;
  process.stdout.write(line.replace('#', String(seq)));
}

function emit(tag, data, budget) {
  let bytes = data;
  if (budget.max > 0) {
    const room = Math.max(0, budget.max - budget.used);
    bytes = data.subarray(0, room);
    budget.used += bytes.length;
  }
  for (let off = 0; off < bytes.length; off += FRAME_BYTES) {
    frame(`${tag} # ${bytes.subarray(off, off + FRAME_BYTES).toString('base64')}\n`);
  }
}

function main() {
  // `crucible-runner install DIR`: the init container copies the runner into the pod's shared volume.
  if (process.argv[2] === 'install') {
    const target = process.argv[3] ?? '/crucible/bin';
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, 'crucible-runner'), readFileSync(process.argv[1]), { mode: 0o755 });
    return;
  }
  const { options, command } = parseArgs(process.argv.slice(2));
  try {
    if (options.payload) assemblePayload(options.payload, options.workdir);
  } catch (error) {
    emit('e', Buffer.from(`crucible-runner: cannot assemble payload: ${error.message}\n`), {
      max: 0,
      used: 0,
    });
    frame('x # 127 - 0\n');
    process.exitCode = 127;
    return;
  }
  const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const budgets = { o: { max: options.maxOutput, used: 0 }, e: { max: options.maxOutput, used: 0 } };
  let timedOut = false;
  let spawnError = null;
  const timer =
    options.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : null;
  const forward = (signal) => () => child.kill(signal);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  child.stdout.on('data', (d) => emit('o', d, budgets.o));
  child.stderr.on('data', (d) => emit('e', d, budgets.e));
  child.stdin.on('error', () => {
    // The program may exit without reading its stdin (EPIPE): that is its right, not a runner failure.
  });
  child.on('error', (error) => {
    spawnError = error;
  });
  const stdinPath = join(options.workdir, options.stdin);
  try {
    createReadStream(stdinPath)
      .on('error', () => child.stdin.end())
      .pipe(child.stdin);
  } catch {
    child.stdin.end();
  }
  child.on('close', (code, signal) => {
    if (timer) clearTimeout(timer);
    if (spawnError)
      emit(
        'e',
        Buffer.from(`crucible-runner: cannot start ${command[0]}: ${spawnError.message}\n`),
        budgets.e,
      );
    const exitCode = spawnError ? 127 : code;
    frame(`x # ${exitCode ?? '-'} ${signal ?? '-'} ${timedOut ? 1 : 0}\n`);
    process.exitCode = exitCode ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
  });
}

main();
