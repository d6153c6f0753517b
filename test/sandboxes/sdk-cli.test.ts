import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Crucible, type Sandbox } from '../../src/client/index.js';
import { runCli } from '../support/cli-main.js';
import { LOCAL_SANDBOX_MISSING, sandboxHarness, type SandboxHarness } from './harness.js';

describe.skipIf(LOCAL_SANDBOX_MISSING !== null)('sandboxes through the SDK and the CLI (bwrap)', () => {
  let h: SandboxHarness;
  let url: string;
  let client: Crucible;
  let sandbox: Sandbox;

  beforeAll(async () => {
    h = await sandboxHarness();
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    client = new Crucible({ baseUrl: url });
  }, 60_000);
  afterAll(() => h?.close());

  it('Sandbox: exec, execStream, files, pty, hibernate and resume', async () => {
    sandbox = await client.sandboxes.create({
      env: { MODE: 'sdk' },
      files: [{ path: 'a.txt', content: 'AAA' }],
    });
    expect(sandbox.info.status).toBe('ready');
    expect(await sandbox.exec('echo $MODE; cat a.txt')).toMatchObject({ exitCode: 0, stdout: 'sdk\nAAA' });
    const lines = [];
    for await (const line of sandbox.execStream(['/bin/sh', '-c', 'printf "\\377\\376"; echo done >&2']))
      lines.push(line);
    // The agent reads stdout and stderr on their own threads: the order across the two streams is not fixed.
    expect(lines.find((l) => 'stream' in l && l.stream === 'stdout')).toMatchObject({
      stream: 'stdout',
      data: Buffer.from([0xff, 0xfe]),
    });
    expect(lines.at(-1)).toMatchObject({ exit: { code: 0 }, status: 'finished' });
    await sandbox.files.write('dir/b.bin', Buffer.from([0, 1, 2, 255]));
    expect(await sandbox.files.read('dir/b.bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect((await sandbox.files.list('dir')).map((e) => e.name)).toEqual(['b.bin']);
    expect((await sandbox.files.glob('**/*.bin')).paths).toEqual(['dir/b.bin']);
    expect((await sandbox.files.grep('AAA')).matches).toEqual([{ path: 'a.txt', line: 1, text: 'AAA' }]);
    await expect(sandbox.files.read('../etc/passwd')).rejects.toMatchObject({
      code: 'path_outside_workspace',
    });
    const pty = await sandbox.pty({ cols: 90, rows: 20 });
    let screen = '';
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        if (screen.includes(text)) return resolve();
        pty.onData(() => screen.includes(text) && resolve());
      });
    pty.onData((d) => (screen += d.toString()));
    pty.write('stty size\n');
    await seen('20 90');
    pty.write('exit 4\n');
    expect(await pty.closed).toEqual({ code: 4, signal: null });
    expect((await sandbox.hibernate()).status).toBe('hibernated');
    expect((await sandbox.exec('cat a.txt dir/b.bin | od -An -tx1 | tr -s " "')).stdout).toBe(
      ' 41 41 41 00 01 02 ff\n',
    );
    expect((await sandbox.refresh()).status).toBe('ready');
  });

  it('crucible sandbox create | exec | ls | hibernate | resume | rm', async () => {
    const created = await runCli(url, ['sandbox', 'create', '--env', 'WHO=cli', '--memory', '256']);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    const exec = await runCli(url, [
      'sandbox',
      'exec',
      id,
      '--',
      '/bin/sh',
      '-c',
      'echo $WHO; echo oops >&2; exit 3',
    ]);
    expect(exec).toEqual({ stdout: 'cli\n', stderr: 'oops\n', code: 3 });
    expect((await runCli(url, ['sandbox', 'ls'])).stdout).toContain(id);
    expect((await runCli(url, ['sandbox', 'hibernate', id])).stdout).toBe(`${id} hibernated\n`);
    expect((await runCli(url, ['sandbox', 'resume', id])).stdout).toBe(`${id} ready\n`);
    expect((await runCli(url, ['sandbox', 'rm', id])).stdout).toBe(`${id} terminated\n`);
    const gone = await runCli(url, ['sandbox', 'exec', id, '--', 'true']);
    expect(gone.code).toBe(125);
    expect(gone.stderr).toContain('sandbox_terminated');
    expect((await runCli(url, ['sandbox', 'exec', id])).stderr).toContain('needs a command');
  });

  it('crucible sandbox shell gives a real terminal: keys, Ctrl-C, the shell’s exit code', async () => {
    // script(1) gives the CLI a real pseudo-terminal on the host, as a user's terminal would.
    const cli = `node_modules/.bin/tsx -e "import('./src/cli/index.ts').then((m) => m.main(process.argv.slice(0, 1).concat(['x', '--url', '${url}', 'sandbox', 'shell', '${sandbox.id}'])))"`;
    const child = spawn('script', ['-qfec', cli, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let screen = '';
    // A step that never comes fails with what the terminal showed, not a bare test timeout.
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`never saw ${JSON.stringify(text)}; the terminal showed ${JSON.stringify(screen)}`),
            ),
          20_000,
        );
        const check = () => screen.includes(text) && (clearTimeout(timer), resolve());
        child.stdout.on('data', check);
        check();
      });
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.write('echo $((6*7))\n');
    await seen('42');
    child.stdin.write(
      `python3 -c 'import time; print("fore" + "ground", flush=True); time.sleep(60)' && echo not-interrupted\n`,
    );
    await seen('foreground');
    child.stdin.write('\x03');
    // The sandbox's terminal flushes its pending input on ^C (ISIG without NOFLSH): a line typed before the
    // interrupt is handled would be lost, so wait for Python to report it first.
    await seen('KeyboardInterrupt');
    child.stdin.write('echo after-$((1+2))\n');
    await seen('after-3');
    expect(screen).not.toMatch(/\nnot-interrupted/);
    child.stdin.write('exit 7\n');
    expect(await exited).toBe(7);
  }, 30_000);
});
