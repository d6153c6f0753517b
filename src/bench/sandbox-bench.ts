/**
 * Interactive sandboxes on the local bwrap backend, over HTTP against a real server process (the SDK), each
 * figure next to its floor measured in the same run:
 * - create → ready (POST /v1/sandboxes answered `ready`; the warm pool's claim) vs a bare bwrap start of
 *   `true` with the same isolation flags;
 * - exec round trip of `true` (POST …/exec?wait=true) vs spawning `true` on the host;
 * - 1 MiB file write + read through the file API vs writeFile + readFile of 1 MiB on the host;
 * - hibernate and resume of a 10 MiB workspace vs `tar -c` / `tar -x` of the same files on the host.
 *
 * Run: `npx tsx src/bench/sandbox-bench.ts [--sandbox gvisor]` (with a built dist/), or through `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Crucible } from '../client/index.js';
import { table } from '../format/table.js';
import { bareBwrapCommand } from '../runtime/local/bwrap.js';
import { timeProcess } from './processes.js';
import { startBenchServer } from './server-process.js';
import { summarize } from './stats.js';

export interface SandboxBenchFigure {
  readonly p50: number;
  readonly p95: number;
}

export interface SandboxBench {
  /** The server's `--sandbox`: bwrap, or gVisor (whose hibernation also checkpoints the processes). */
  readonly isolation: 'bwrap' | 'gvisor';
  readonly createReadyMs: SandboxBenchFigure;
  readonly bareBwrapStartMs: SandboxBenchFigure;
  readonly execTrueMs: SandboxBenchFigure;
  readonly hostSpawnTrueMs: SandboxBenchFigure;
  readonly file1MiBMs: SandboxBenchFigure;
  readonly hostFile1MiBMs: SandboxBenchFigure;
  readonly hibernate10MiBMs: SandboxBenchFigure;
  readonly resume10MiBMs: SandboxBenchFigure;
  readonly hostTarCreateMs: SandboxBenchFigure;
  readonly hostTarExtractMs: SandboxBenchFigure;
}

const figure = (samples: number[]): SandboxBenchFigure => {
  const s = summarize(samples);
  return { p50: s.median, p95: s.p95 };
};

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function repeat(n: number, work: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await work());
  return samples;
}

/** The 10 MiB workspace: ten 1 MiB files of random bytes (incompressible, like real build outputs). */
const WORKSPACE_SCRIPT =
  'mkdir -p data && for i in 0 1 2 3 4 5 6 7 8 9; do head -c 1048576 /dev/urandom > data/f$i; done';

function hostTarFloor(): { create: number; extract: number } {
  const dir = mkdtempSync(join(tmpdir(), 'crucible-bench-tar-'));
  try {
    execFileSync('mkdir', ['-p', join(dir, 'src/data'), join(dir, 'out')]);
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, 'src/data', `f${i}`), randomBytes(1 << 20));
    let start = performance.now();
    execFileSync('tar', ['-cf', join(dir, 'w.tar'), '-C', join(dir, 'src'), '.']);
    const create = performance.now() - start;
    start = performance.now();
    execFileSync('tar', ['-xf', join(dir, 'w.tar'), '-C', join(dir, 'out')]);
    return { create, extract: performance.now() - start };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchSandboxes(
  options: { log?: (line: string) => void; iterations?: number; isolation?: 'bwrap' | 'gvisor' } = {},
): Promise<SandboxBench> {
  const log = options.log ?? (() => undefined);
  const n = options.iterations ?? 30;
  const isolation = options.isolation ?? 'bwrap';
  const server = await startBenchServer({ sandbox: isolation });
  try {
    const client = new Crucible({ baseUrl: server.url });
    // The first create teaches the warm pool this sandbox size; later ones are claims.
    await (await client.sandboxes.create()).terminate();
    log('  create → ready');
    const createReady = await repeat(n, async () => {
      let id = '';
      const ms = await timed(async () => (id = (await client.sandboxes.create()).id));
      await (await client.sandboxes.get(id)).terminate();
      return ms;
    });
    const bare = bareBwrapCommand(['true']);
    const bareStart = await repeat(
      n,
      async () => (await timeProcess({ command: bare.command, args: bare.args, inputs: bare.inputs })).wallMs,
    );

    const sandbox = await client.sandboxes.create();
    log('  exec true');
    await sandbox.exec(['true']);
    const execTrue = await repeat(n * 3, () => timed(() => sandbox.exec(['true'])));
    const hostTrue = await repeat(
      n * 3,
      async () => (await timeProcess({ command: '/usr/bin/true', args: [] })).wallMs,
    );

    log('  1 MiB write + read');
    const mib = randomBytes(1 << 20);
    const file = await repeat(n, () =>
      timed(async () => {
        await sandbox.files.write('bench.bin', mib);
        const back = await sandbox.files.read('bench.bin');
        if (!back.equals(mib)) throw new Error('the 1 MiB file came back different');
      }),
    );
    const hostDir = mkdtempSync(join(tmpdir(), 'crucible-bench-file-'));
    const hostFile = await repeat(n, () =>
      timed(async () => {
        await writeFile(join(hostDir, 'bench.bin'), mib);
        await readFile(join(hostDir, 'bench.bin'));
      }),
    );
    rmSync(hostDir, { recursive: true, force: true });

    log('  hibernate / resume of 10 MiB');
    await sandbox.files.delete('bench.bin');
    await sandbox.exec(WORKSPACE_SCRIPT);
    const hibernate: number[] = [];
    const resume: number[] = [];
    const tarCreate: number[] = [];
    const tarExtract: number[] = [];
    for (let i = 0; i < 5; i++) {
      hibernate.push(await timed(() => sandbox.hibernate()));
      resume.push(await timed(() => sandbox.resume()));
      const floor = hostTarFloor();
      tarCreate.push(floor.create);
      tarExtract.push(floor.extract);
    }
    await sandbox.terminate();
    return {
      isolation,
      createReadyMs: figure(createReady),
      bareBwrapStartMs: figure(bareStart),
      execTrueMs: figure(execTrue),
      hostSpawnTrueMs: figure(hostTrue),
      file1MiBMs: figure(file),
      hostFile1MiBMs: figure(hostFile),
      hibernate10MiBMs: figure(hibernate),
      resume10MiBMs: figure(resume),
      hostTarCreateMs: figure(tarCreate),
      hostTarExtractMs: figure(tarExtract),
    };
  } finally {
    await server.stop();
  }
}

export function formatSandboxBench(b: SandboxBench): string {
  const ms = (f: SandboxBenchFigure) => `${f.p50.toFixed(1)} / ${f.p95.toFixed(1)}`;
  return [
    `Interactive sandboxes, local ${b.isolation}, over HTTP (ms, p50 / p95)`,
    table([
      ['WHAT', 'SANDBOX', 'FLOOR', 'FLOOR IS', 'GOAL (p50)'],
      ['create → ready', ms(b.createReadyMs), ms(b.bareBwrapStartMs), 'bare bwrap start of true', '≤ 50'],
      ['exec `true` round trip', ms(b.execTrueMs), ms(b.hostSpawnTrueMs), 'spawn true on the host', '≤ 10'],
      ['1 MiB write + read', ms(b.file1MiBMs), ms(b.hostFile1MiBMs), 'writeFile + readFile on the host', '-'],
      [
        'hibernate 10 MiB',
        ms(b.hibernate10MiBMs),
        ms(b.hostTarCreateMs),
        'tar -c of the same files',
        '≤ 1000',
      ],
      ['resume 10 MiB', ms(b.resume10MiBMs), ms(b.hostTarExtractMs), 'tar -x of the same files', '≤ 1000'],
    ]),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // `--sandbox gvisor`: the same figures on gVisor (hibernation then includes runsc checkpoint/restore).
  const at = process.argv.indexOf('--sandbox');
  const isolation = at > 0 && process.argv[at + 1] === 'gvisor' ? 'gvisor' : 'bwrap';
  const result = await benchSandboxes({ log: (line) => process.stderr.write(`${line}\n`), isolation });
  process.stdout.write(
    process.argv.includes('--json')
      ? `${JSON.stringify(result, null, 2)}\n`
      : `${formatSandboxBench(result)}\n`,
  );
}
