import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import { BIN, removeDataDir, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let dir: string;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'crucible-cli-'));
});

afterAll(async () => {
  await server?.stop();
  await removeDataDir(server.dataDir);
  await removeDataDir(dir);
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CRUCIBLE_URL: server.url, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function file(name: string, content: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, content);
  return p;
}

describeSandboxed('crucible CLI', () => {
  it('run streams stdout and stderr apart and exits with the program’s exit code', async () => {
    const f = await file('exit.py', 'import sys\nprint("out")\nprint("err", file=sys.stderr)\nsys.exit(4)\n');
    const r = await cli(['run', f]);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toMatch(/^err\n/);
    expect(r.stderr).toMatch(/failed {2}reason=exit_code {2}exit=4/);
  });

  it('run exits 0 on success and 124 on a time-out', async () => {
    expect((await cli(['run', await file('ok.sh', 'echo fine')])).code).toBe(0);
    const slow = await cli(['run', await file('slow.sh', 'sleep 20'), '--timeout', '1']);
    expect(slow.code).toBe(124);
  });

  it('run --json prints the final evaluation', async () => {
    const r = await cli(['run', await file('j.js', 'console.log("js")'), '--json', '--label', 'team=cli']);
    expect(r.code).toBe(0);
    const evaluation = JSON.parse(r.stdout) as { status: string; labels: object; result: { stdout: string } };
    expect(evaluation).toMatchObject({
      status: 'succeeded',
      labels: { team: 'cli' },
      result: { stdout: 'js\n' },
    });
  });

  it('status, logs, ls and cancel work on an evaluation', async () => {
    const r = await cli(['run', await file('s.sh', 'echo one; echo two >&2'), '--json']);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    const status = await cli(['status', id]);
    expect(status.stdout).toContain(`${id}  succeeded`);
    const logs = await cli(['logs', id]);
    expect(logs.stdout).toBe('one\n');
    expect(logs.stderr).toBe('two\n');
    const ls = await cli(['ls', '--limit', '50']);
    expect(ls.stdout).toMatch(/^ID\s+STATUS/);
    expect(ls.stdout).toContain(id);
    const cancel = await cli(['cancel', id]);
    expect(cancel.stdout).toContain('succeeded');
  });

  it('explains a bad language and an unknown id with exit code 125', async () => {
    const noLanguage = await cli(['run', await file('x.txt', 'hi')]);
    expect(noLanguage.code).toBe(125);
    expect(noLanguage.stderr).toMatch(/cannot tell the language of x\.txt; pass --language/);
    const missing = await cli(['status', 'does-not-exist']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/no evaluation with id "does-not-exist"/);
  });

  it('runs in-process, saying so, when no server is reachable', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'crucible-cli-local-'));
    const r = await cli(['run', await file('local.py', 'print("local")')], {
      CRUCIBLE_URL: 'http://127.0.0.1:9',
      CRUCIBLE_DATA_DIR: dataDir,
    });
    expect(r.stderr).toContain('no server at http://127.0.0.1:9; running in-process instead');
    expect(r.stdout).toBe('local\n');
    expect(r.code).toBe(0);
    await removeDataDir(dataDir);
  });

  it('--help lists the commands', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['serve', 'run', 'status', 'logs', 'cancel', 'ls', 'bench']) {
      expect(r.stdout).toContain(command);
    }
  });
});
