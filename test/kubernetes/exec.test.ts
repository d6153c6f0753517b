import { CoreV1Api, Exec, type V1Status } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFakeCluster, type FakeCluster } from '../../testkit/fake-kube/index.js';
import { KUBECTL } from '../crd/harness.js';
import { idlePod, isRunning, kubeConfigOf, podUntil } from './exec-harness.js';

let cluster: FakeCluster;
let exec: Exec;

beforeAll(async () => {
  cluster = await startFakeCluster();
  const kc = kubeConfigOf(cluster);
  exec = new Exec(kc);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'crucible-test' } } });
  await core.createNamespacedPod({ namespace: 'crucible-test', body: idlePod('box') });
  await podUntil(cluster, 'box', isRunning);
});
afterAll(() => cluster.close());

interface Finished {
  stdout: string;
  stderr: string;
  status: V1Status;
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

/** Runs `command` in the pod through @kubernetes/client-node's Exec; resolves with the status frame. */
function run(command: string[], stdin: Readable | null = null, tty = false): Promise<Finished> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  return new Promise((resolve, reject) => {
    exec
      .exec('crucible-test', 'box', 'main', command, stdout, stderr, stdin, tty, (status) =>
        resolve({ stdout: out(), stderr: err(), status }),
      )
      .catch(reject);
  });
}

describe('pods/exec on the fake API server (v5.channel.k8s.io, driven by @kubernetes/client-node)', () => {
  it('streams stdout and stderr apart and reports a non-zero exit as the kubelet does', async () => {
    const done = await run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(done.stdout).toBe('out\n');
    expect(done.stderr).toBe('err\n');
    expect(done.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect((await run(['true'])).status).toEqual({ metadata: {}, status: 'Success' });
  });

  it('feeds stdin and closes it with the v5 CLOSE signal, so `cat` sees EOF', async () => {
    const input = Buffer.alloc(200_000, 'x').toString() + 'end\n';
    const done = await run(['cat'], Readable.from([input]));
    expect(done.stdout.length).toBe(input.length);
    expect(done.stdout.endsWith('end\n')).toBe(true);
    expect(done.status.status).toBe('Success');
  });

  it('runs as the sandbox user inside the container: its env, its /workspace emptyDir, capped at sizeLimit', async () => {
    const done = await run(['sh', '-c', 'id -u; echo $GREETING; echo kept > /workspace/a; cat /workspace/a']);
    expect(done.stdout).toBe('65534\nhello\nkept\n');
    // The main process sees what exec wrote: one filesystem, not a copy.
    expect((await run(['cat', '/workspace/a'])).stdout).toBe('kept\n');
    const full = await run(['sh', '-c', 'head -c 2000000 /dev/zero > /workspace/big']);
    expect(full.stderr).toMatch(/No space left on device/);
    expect(full.status.reason).toBe('NonZeroExitCode');
    await run(['rm', '/workspace/big']);
    expect((await run(['sh', '-c', 'touch /etc/x'])).stderr).toMatch(/Read-only file system/);
  });

  it('gives a terminal with tty=true and applies resize messages ({"width","height"} JSON on channel 4)', async () => {
    const stdin = new PassThrough();
    const stdout = Object.assign(new PassThrough(), { columns: 100, rows: 30 });
    const out = collect(stdout);
    const status = new Promise<V1Status>((resolve, reject) => {
      exec
        .exec(
          'crucible-test',
          'box',
          'main',
          ['sh', '-c', 'stty size; read x; stty size'],
          stdout,
          null,
          stdin,
          true,
          resolve,
        )
        .catch(reject);
    });
    await until(stdout, 'data', () => out().includes('30 100'));
    stdout.columns = 120;
    stdout.rows = 40;
    stdout.emit('resize');
    // The resize travels on its own channel, sent before the key: it is in force when the key is read.
    stdin.write('go\r');
    expect((await status).status).toBe('Success');
    expect(out()).toMatch(/30 100\r\n.*40 120\r\n/s);
  });

  it('refuses before upgrading, with a Status body: no pod (404), unknown container (400), no command', async () => {
    await expect(
      new Exec(kubeConfigOf(cluster)).exec(
        'crucible-test',
        'nope',
        'main',
        ['true'],
        null,
        null,
        null,
        false,
      ),
    ).rejects.toBeDefined();
    const answer = await rawUpgrade(
      '/api/v1/namespaces/crucible-test/pods/box/exec?container=other&command=true&stdout=true',
    );
    expect(answer).toMatchObject({
      status: 400,
      body: { reason: 'BadRequest', message: 'container other is not valid for pod box' },
    });
    const none = await rawUpgrade('/api/v1/namespaces/crucible-test/pods/box/exec?stdout=true');
    expect(none).toMatchObject({ status: 400, body: { message: 'you must specify at least 1 command' } });
    const missing = await rawUpgrade(
      '/api/v1/namespaces/crucible-test/pods/nope/exec?command=true&stdout=true',
    );
    expect(missing).toMatchObject({
      status: 404,
      body: { reason: 'NotFound', message: 'pods "nope" not found' },
    });
  });

  it('falls back to v4.channel.k8s.io for a client that offers only v4 (no CLOSE signal: 255 is ignored)', async () => {
    const url = `${cluster.url.replace('http', 'ws')}/api/v1/namespaces/crucible-test/pods/box/exec?command=cat&stdin=true&stdout=true`;
    const ws = new WebSocket(url, ['v4.channel.k8s.io']);
    const frames: Buffer[] = [];
    ws.on('message', (data: Buffer) => frames.push(data));
    await new Promise((resolve) => ws.once('open', resolve));
    expect(ws.protocol).toBe('v4.channel.k8s.io');
    ws.send(Buffer.from([0, ...Buffer.from('hi\n')]));
    ws.send(Buffer.from([255, 0]));
    await until(ws, 'message', () => frames.some((f) => f[0] === 1 && f.subarray(1).toString() === 'hi\n'));
    // The first message is the empty "ready" frame on stdout, as the API server sends.
    expect([...frames[0]!]).toEqual([1]);
    expect(frames.some((f) => f[0] === 3)).toBe(false);
    ws.close();
  });
});

describe.skipIf(!KUBECTL)('pods/exec driven by the real kubectl (WebSocket, v5.channel.k8s.io)', () => {
  /** `kubectl exec` with `input` on its stdin: exit code, stdout, stderr. */
  function kubectl(args: string[], input: string | null) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(KUBECTL!, ['--kubeconfig', cluster.kubeconfigPath, ...args]);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('close', (code) =>
        resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
      );
      child.stdin.end(input ?? undefined);
    });
  }

  it('kubectl exec -i pipes stdin through, returns the exit code and says it on stderr', async () => {
    const done = await kubectl(
      ['exec', '-i', 'box', '--', 'sh', '-c', 'tr a-z A-Z; echo oops >&2; exit 4'],
      'shout\n',
    );
    expect(done).toEqual({
      code: 4,
      stdout: 'SHOUT\n',
      stderr: 'oops\ncommand terminated with exit code 4\n',
    });
  });

  it("kubectl exec reads what an earlier exec wrote into the pod's workspace", async () => {
    await kubectl(['exec', 'box', '-c', 'main', '--', 'sh', '-c', 'echo from-kubectl > /workspace/k'], null);
    expect(await kubectl(['exec', 'box', '--', 'cat', '/workspace/k'], null)).toMatchObject({
      code: 0,
      stdout: 'from-kubectl\n',
    });
  });

  it("kubectl exec into a missing pod fails with the API server's message", async () => {
    const done = await kubectl(['exec', 'ghost', '--', 'true'], null);
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(/pods "ghost" not found/);
  });
});

/** Resolves on the first `event` after which `condition` holds (checked at once too). */
function until(emitter: NodeJS.EventEmitter, event: string, condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!condition()) return;
      emitter.off(event, check);
      resolve();
    };
    emitter.on(event, check);
    check();
  });
}

/** An upgrade request the server refuses: its HTTP status and Status body. */
function rawUpgrade(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${cluster.url.replace('http', 'ws')}${path}`, ['v5.channel.k8s.io']);
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
        }),
      );
    });
    ws.on('open', () => reject(new Error('upgraded')));
    ws.on('error', () => undefined);
  });
}
