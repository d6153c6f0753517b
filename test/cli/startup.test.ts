import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDER_GROUPS } from '../../src/cli/index.js';
import { ScriptedServer, apiError, evaluation, json } from '../client/scripted-server.js';

// These spawn the built CLI (dist/): run `npm run build` first.
const BIN = fileURLToPath(new URL('../../bin/crucible.js', import.meta.url));
const RECORDER = fileURLToPath(new URL('./record-modules.mjs', import.meta.url));
const PACKAGE = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

let dir: string;
let server: ScriptedServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-cli-startup-'));
  server = ScriptedServer.start((req, res) => {
    if (req.url.startsWith('/v1/evaluations/ev_1')) json(res, 200, evaluation({ status: 'succeeded' }));
    else json(res, 404, apiError('not_found', 'no such thing'));
  });
  await server.ready();
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every module URL the process resolved, in order. */
  readonly modules: string[];
}

async function cli(args: string[]): Promise<Run> {
  const log = path.join(dir, `modules-${Math.random().toString(36).slice(2)}.json`);
  const child = spawn(process.execPath, ['--import', RECORDER, BIN, ...args], {
    env: { ...process.env, CRUCIBLE_URL: server.url, CRUCIBLE_MODULE_LOG: log },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, stdout, stderr, modules: JSON.parse(await readFile(log, 'utf8')) as string[] };
}

/** What only the server, the sandbox or the Kubernetes tools (commander, yaml) need: a client command loads none. */
const HEAVY = [
  /node_modules\/(commander|fastify|@fastify|zod|fastify-type-provider-zod|pino|prom-client|@kubernetes|yaml|undici)\//,
  /^node:sqlite$/,
  /\/dist\/(server|api|service|store|runtime|scheduler|config|metrics|bench)\b/,
  /\/dist\/cli\/commands\/(kube|in-process-server)\.js$/,
];

function heavyModules(modules: readonly string[]): string[] {
  return modules.filter((url) => HEAVY.some((pattern) => pattern.test(url)));
}

describe('CLI start-up', () => {
  it('--version prints the package version', async () => {
    const run = await cli(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `${PACKAGE.version}\n`, stderr: '' });
  });

  it('--help lists every command, the lazily loaded ones too, without loading them', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: crucible \[options\] \[command\]/);
    expect(run.stdout).toContain('-V, --version');
    for (const command of ['serve', 'run', 'status', 'logs', 'cancel', 'ls', 'kube', 'bench']) {
      expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(heavyModules(run.modules)).toEqual([]);
  });

  it('a client command loads one bundled module (the CLI with the SDK) and nothing of the server', async () => {
    const run = await cli(['status', 'ev_1']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^ev_1 {2}succeeded/);
    expect(
      run.modules.filter((url) => url.includes('/dist/')).map((url) => url.replace(/.*\/dist\//, '')),
    ).toEqual(['cli.js']);
    expect(heavyModules(run.modules)).toEqual([]);
  });

  it('run, when a server answers, loads nothing of the server', async () => {
    const source = path.join(dir, 'hello.py');
    await writeFile(source, 'print(1)\n');
    const run = await cli(['run', source, '--json']);
    expect(run.code).toBe(125);
    expect(run.stderr).toContain('no such thing [not_found]');
    expect(heavyModules(run.modules)).toEqual([]);
  });

  it('kube loads its module when invoked', async () => {
    const run = await cli(['kube', '--help']);
    expect(run.stdout).toContain('render');
    expect(run.modules.some((url) => url.endsWith('/dist/cli/commands/kube.js'))).toBe(true);
  });
});

describe('CLI launcher', () => {
  it('run as a program, starts the project’s Node 24 straight away: one Node start, not two', async () => {
    const log = path.join(dir, 'node-starts.log');
    const recorder = fileURLToPath(new URL('./record-node.mjs', import.meta.url));
    const child = spawn(BIN, ['--version'], {
      // Only the system's directories: the `node` found there may be older than 24.
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        NODE_OPTIONS: `--import ${recorder}`,
        CRUCIBLE_NODE_LOG: log,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
    expect(stdout).toBe(`${PACKAGE.version}\n`);
    const starts = (await readFile(log, 'utf8')).trim().split('\n');
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatch(/^v(2[4-9]|[3-9]\d)\./);
  });
});

describe('SDK package entry', () => {
  it("`import { Crucible } from 'crucible'` resolves to the SDK and loads nothing of the server", async () => {
    const log = path.join(dir, 'sdk-modules.json');
    const child = spawn(
      process.execPath,
      [
        '--import',
        RECORDER,
        '--input-type=module',
        '-e',
        "const m = await import('crucible'); console.log(typeof m.Crucible)",
      ],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, CRUCIBLE_MODULE_LOG: log },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
    expect(stdout).toBe('function\n');
    const modules = JSON.parse(await readFile(log, 'utf8')) as string[];
    expect(modules.some((url) => url.endsWith('/dist/client/index.js'))).toBe(true);
    expect(heavyModules(modules)).toEqual([]);
  });
});

describe('CLI help', () => {
  it('lists a commander-based group with the description the group gives itself', async () => {
    const top = await cli(['--help']);
    const kube = await cli(['help', 'kube']);
    expect(kube.code).toBe(0);
    const description = kube.stdout.split('\n')[2] ?? '';
    expect(description).toBe(COMMANDER_GROUPS.kube!.description);
    expect(top.stdout).toMatch(new RegExp(`^  kube +${description}$`, 'm'));
  });

  it('prints a command’s help, and errors for people with exit code 125', async () => {
    const help = await cli(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: crucible run \[options\] <file>\n/);
    expect(help.stdout).toContain('  --no-local ');
    const missing = await cli(['run']);
    expect(missing).toMatchObject({
      code: 125,
      stderr: "error: missing required argument 'file'\n(run with --help for usage)\n",
    });
    const unknown = await cli(['frobnicate']);
    expect(unknown).toMatchObject({
      code: 125,
      stderr: "error: unknown command 'frobnicate'\n(run with --help for usage)\n",
    });
    const alone = await cli([]);
    expect(alone.code).toBe(125);
    expect(alone.stderr).toMatch(/^Usage: crucible/);
  });
});
