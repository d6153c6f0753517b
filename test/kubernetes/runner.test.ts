import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameDecoder, type RunnerExit } from '../../src/runtime/kubernetes/frames.js';
import { packPayload } from '../../src/runtime/kubernetes/payload.js';
import { buildBwrapArgs } from '../../src/runtime/local/bwrap-args.js';
import { runnerBinary } from '../../testkit/fake-kube/kubelet.js';

/** The static runner, run directly (no cluster, no sandbox), its stdout decoded as the collector does. */
interface RunnerResult {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exit: RunnerExit | null;
  readonly incomplete: boolean;
  /** The runner's own exit status. */
  readonly status: number | null;
  readonly lines: string[];
  readonly ms: number;
}

let binary = '';
let dir = '';

beforeAll(() => {
  binary = runnerBinary();
  dir = mkdtempSync(join(tmpdir(), 'crucible-runner-test-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const TIMESTAMP = '2026-01-01T00:00:00.000000000Z';

function runner(
  args: readonly string[],
  options: { onFrame?: (line: string, send: (signal: NodeJS.Signals) => void) => void } = {},
): Promise<RunnerResult> {
  const started = Date.now();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const decoder = new FrameDecoder((o) => (o.stream === 'stdout' ? stdout : stderr).push(o.data));
  const raw: Buffer[] = [];
  let pending = '';
  child.stdout.on('data', (data: Buffer) => {
    raw.push(data);
    // The kubelet's view: each line prefixed with its timestamp.
    pending += data.toString('latin1');
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      decoder.push(Buffer.from(`${TIMESTAMP} ${line}\n`, 'latin1'));
      options.onFrame?.(line, (signal) => child.kill(signal));
      newline = pending.indexOf('\n');
    }
  });
  const runnerStderr: Buffer[] = [];
  child.stderr.on('data', (data: Buffer) => runnerStderr.push(data));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      expect(pending).toBe('');
      expect(Buffer.concat(runnerStderr).toString()).toBe('');
      resolve({
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr),
        exit: decoder.exit,
        incomplete: decoder.incomplete,
        status,
        lines: Buffer.concat(raw).toString('latin1').split('\n').slice(0, -1),
        ms: Date.now() - started,
      });
    });
  });
}

/** Whether a process is gone (or a zombie waiting for its reaper, which is just as dead). */
function dead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('crucible-runner (static binary)', () => {
  it('is a static executable', () => {
    const elf = readFileSync(binary);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf[4]).toBe(2); // 64-bit
    // No PT_INTERP program header: the kernel runs it without a dynamic loader (a scratch image has none).
    const phoff = Number(elf.readBigUInt64LE(0x20));
    const phentsize = elf.readUInt16LE(0x36);
    const types = Array.from({ length: elf.readUInt16LE(0x38) }, (_, i) =>
      elf.readUInt32LE(phoff + i * phentsize),
    );
    expect(types).toContain(1); // PT_LOAD
    expect(types).not.toContain(3); // PT_INTERP
  });

  it('round-trips arbitrary bytes exactly, streams apart, in bounded whole-line frames', async () => {
    const out = Buffer.concat([
      Buffer.from([0, 10, 13, 255, 0]),
      randomBytes(100_000),
      Buffer.from('no newline'),
    ]);
    const err = Buffer.concat([randomBytes(20_000), Buffer.from([0, 0, 0])]);
    writeFileSync(join(dir, 'out.bin'), out);
    writeFileSync(join(dir, 'err.bin'), err);
    const r = await runner([
      '--timeout-ms',
      '20000',
      '--',
      'sh',
      '-c',
      `cat ${dir}/out.bin; cat ${dir}/err.bin >&2; exit 3`,
    ]);
    expect(r.stdout.equals(out)).toBe(true);
    expect(r.stderr.equals(err)).toBe(true);
    expect(r.exit).toMatchObject({ exitCode: 3, signal: null, timedOut: false });
    expect(r.status).toBe(3);
    expect(r.incomplete).toBe(false);
    // Every line is a frame well below the CRI's 16 KiB split, `seq` counts 1, 2, 3, … and `x` is last.
    r.lines.forEach((line, i) => {
      expect(line).toMatch(/^([oe] \d+ [A-Za-z0-9+/]*={0,2}|x \d+ \S+ \S+ [01] (\d+|-) (\d+|-))$/);
      expect(line.length).toBeLessThanOrEqual(11 * 1024);
      expect(line.split(' ')[1]).toBe(String(i + 1));
    });
    expect(r.lines.at(-1)).toMatch(new RegExp(`^x ${r.lines.length} 3 - 0 \\d+ \\d+$`));
    expect(r.lines.length).toBeGreaterThan(100_000 / 8192);
  });

  it('reports the CPU time and peak memory the program used in its exit frame', async () => {
    // A fixed amount of work and a 64 MiB buffer touched page by page: what the usage report sums.
    const script =
      'const b = Buffer.alloc(64 * 1024 * 1024, 1); let x = 0; for (let i = 0; i < 2e8; i++) x += i % 7; ' +
      'process.stdout.write(String(b[12345] + (x > 0 ? 0 : 1)))';
    const r = await runner(['--', process.execPath, '-e', script]);
    expect(r.stdout.toString()).toBe('1');
    expect(r.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    const { cpuTimeMs, peakMemoryBytes } = r.exit!;
    expect(cpuTimeMs).toBeGreaterThan(20);
    // CPU time is bounded by wall time × this machine's cores, with room for start-up.
    expect(cpuTimeMs).toBeLessThanOrEqual((r.ms + 1000) * cpus().length);
    expect(peakMemoryBytes).toBeGreaterThanOrEqual(64 * 1024 * 1024);
  });

  it('reports a death by signal', async () => {
    const r = await runner(['--', 'sh', '-c', 'echo bye; kill -SEGV $$']);
    expect(r.stdout.toString()).toBe('bye\n');
    expect(r.exit).toMatchObject({ exitCode: null, signal: 'SIGSEGV', timedOut: false });
    expect(r.status).toBe(128 + 11);
  });

  it('kills the whole process group at the wall-time limit', async () => {
    const pidFile = join(dir, 'background.pid');
    const r = await runner([
      '--timeout-ms',
      '500',
      '--',
      'sh',
      '-c',
      // The background child keeps stdout open: only killing the group lets the runner finish.
      `sleep 60 & echo $! > ${pidFile}; echo started; sleep 60`,
    ]);
    expect(r.stdout.toString()).toBe('started\n');
    expect(r.exit).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: true });
    expect(r.status).toBe(137);
    expect(r.ms).toBeLessThan(5000);
    expect(dead(Number(readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('ends what the program left running when it exits', async () => {
    const pidFile = join(dir, 'left.pid');
    const r = await runner([
      '--timeout-ms',
      '20000',
      '--',
      'sh',
      '-c',
      `sleep 60 & echo $! > ${pidFile}; exit 0`,
    ]);
    expect(r.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    expect(r.ms).toBeLessThan(5000);
    expect(dead(Number(readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('passes max-output bytes per stream, then drops the rest while still draining', async () => {
    const r = await runner([
      '--timeout-ms',
      '20000',
      '--max-output',
      '11',
      '--',
      'sh',
      '-c',
      'head -c 3000000 /dev/zero | tr "\\0" o; head -c 3000000 /dev/zero | tr "\\0" e >&2; echo done >&2',
    ]);
    expect(r.stdout.toString()).toBe('o'.repeat(11));
    expect(r.stderr.toString()).toBe('e'.repeat(11));
    expect(r.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
  });

  it('feeds the stdin file, and an empty stdin when there is none', async () => {
    const input = Buffer.concat([Buffer.from('line 1\n\0'), randomBytes(200_000)]);
    writeFileSync(join(dir, 'input'), input);
    const fed = await runner(['--workdir', dir, '--stdin', 'input', '--', 'cat']);
    expect(fed.stdout.equals(input)).toBe(true);
    expect(fed.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    const none = await runner(['--workdir', dir, '--stdin', 'missing', '--timeout-ms', '5000', '--', 'cat']);
    expect(none.stdout.length).toBe(0);
    expect(none.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
    // A program that never reads its stdin is not an error.
    const ignored = await runner(['--workdir', dir, '--stdin', 'input', '--', 'true']);
    expect(ignored.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
  });

  it('assembles the payload from the chunks of several mounted ConfigMaps', async () => {
    const code = `print("é")\n${'# ünïcödé padding\n'.repeat(50_000)}`;
    const stdin = `ß${'x'.repeat(300_000)}`;
    const parts = packPayload([
      { name: 'main.py', content: code },
      { name: 'stdin', content: stdin },
    ]);
    expect(parts.length).toBeGreaterThan(1);
    // Mounted as the kubelet does it: keys are symlinks into a timestamped `..` directory.
    const payload = join(dir, 'payload');
    parts.forEach((part, index) => {
      const mount = join(payload, String(index));
      const data = join(mount, '..2026_01_01_00_00_00.123456789');
      mkdirSync(data, { recursive: true });
      symlinkSync('..2026_01_01_00_00_00.123456789', join(mount, '..data'));
      for (const [key, value] of Object.entries(part)) {
        writeFileSync(join(data, key), value);
        symlinkSync(`..data/${key}`, join(mount, key));
      }
    });
    mkdirSync(join(payload, '..hidden'));
    const workdir = join(dir, 'work');
    const r = await runner([
      '--payload',
      payload,
      '--workdir',
      workdir,
      '--stdin',
      'stdin',
      '--',
      'sh',
      '-c',
      `cat ${workdir}/main.py; wc -c`,
    ]);
    expect(r.stdout.toString()).toBe(`${code}${Buffer.byteLength(stdin)}\n`);
    expect(readFileSync(join(workdir, 'stdin'), 'utf8')).toBe(stdin);
    expect(r.exit).toMatchObject({ exitCode: 0, signal: null, timedOut: false });
  });

  it('exits 127 with a message when the payload or the program is missing', async () => {
    const payload = await runner(['--payload', join(dir, 'nope'), '--workdir', dir, '--', 'true']);
    expect(payload.stderr.toString()).toMatch(/^crucible-runner: cannot assemble payload: .*nope/);
    expect(payload.exit).toMatchObject({ exitCode: 127, signal: null, timedOut: false });
    expect(payload.status).toBe(127);
    const program = await runner(['--', 'no-such-program-here']);
    expect(program.stderr.toString()).toMatch(/^crucible-runner: cannot start no-such-program-here: /);
    expect(program.exit).toMatchObject({ exitCode: 127, signal: null, timedOut: false });
    expect(program.status).toBe(127);
  });

  it('forwards SIGTERM to the program', async () => {
    const r = await runner(
      [
        '--timeout-ms',
        '20000',
        '--',
        'sh',
        '-c',
        'trap "echo got; exit 7" TERM; echo ready; while :; do sleep 0.05; done',
      ],
      {
        onFrame: (line, send) => {
          if (line.startsWith('o 1 ')) send('SIGTERM');
        },
      },
    );
    expect(r.stdout.toString()).toBe('ready\ngot\n');
    expect(r.exit).toMatchObject({ exitCode: 7, signal: null, timedOut: false });
    expect(r.status).toBe(7);
  });

  it('installs itself, executable, into a directory (the init container)', async () => {
    const target = join(dir, 'bin');
    const r = await new Promise<number | null>((resolve) =>
      spawn(binary, ['install', target], { stdio: 'inherit' }).on('close', resolve),
    );
    expect(r).toBe(0);
    const installed = join(target, 'crucible-runner');
    expect(readFileSync(installed).equals(readFileSync(binary))).toBe(true);
    expect(statSync(installed).mode & 0o777).toBe(0o755);
  });
});

describe('sandbox files', () => {
  it('delivers executable files with mode 0555, data files with 0444', () => {
    const args = buildBwrapArgs({
      program: { hostPath: '/bin/x', sandboxPath: '/bin/x', extraBind: null },
      args: [],
      dataFiles: [
        { fd: 3, path: '/code/main.py' },
        { fd: 4, path: '/crucible/bin/crucible-runner', executable: true },
      ],
      tmpSizeBytes: 1 << 20,
    });
    const joined = args.join(' ');
    expect(joined).toContain('--perms 0444 --ro-bind-data 3 /code/main.py');
    expect(joined).toContain('--perms 0555 --ro-bind-data 4 /crucible/bin/crucible-runner');
  });
});
