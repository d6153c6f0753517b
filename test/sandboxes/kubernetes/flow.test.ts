import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryObjectStore } from '../../../src/objects/index.js';
import type { AgentClient } from '../../../src/runtime/sandbox/agent-client.js';
import { openScreen, sandboxSpec } from '../runtime-conformance.js';
import { podsGone, podsOf, skipReason, startKubeSandboxes, type KubeSandboxEnv } from './harness.js';

let env: KubeSandboxEnv;
let objectsDir: string;
beforeAll(async () => {
  if (skipReason) return;
  env = await startKubeSandboxes();
  objectsDir = await mkdtemp(join(tmpdir(), 'k8s-sandbox-objects-'));
}, 60_000);
afterAll(async () => {
  await env?.close();
  if (objectsDir) await rm(objectsDir, { recursive: true, force: true });
});

async function sh(client: AgentClient, script: string): Promise<string> {
  const out: Buffer[] = [];
  const exit = await client.exec({ argv: ['/bin/sh', '-c', script], timeoutMs: 10_000 }, (s, d) => {
    if (s === 'stdout') out.push(d);
  });
  expect(exit.code, script).toBe(0);
  return Buffer.concat(out).toString();
}

describe.skipIf(skipReason !== null)('a Kubernetes sandbox from create to resume (fake API server)', () => {
  it('create → exec → files → PTY → hibernate to the object store → resume: the workspace is identical', async () => {
    const objects = new DirectoryObjectStore(objectsDir);
    const first = await env.runtime.create(sandboxSpec('flow-1'));
    const client = await first.connect();
    expect(podsOf(env.cluster, 'flow-1')).toHaveLength(1);

    expect(await sh(client, 'echo $GREETING from $(pwd)')).toBe('hello from /workspace\n');
    await client.writeFile('notes/todo.md', Buffer.from('- ship it\n'));
    await sh(
      client,
      'mkdir -p keep/empty && printf x > keep/f && chmod 0640 keep/f && ln -s f keep/link && head -c 1048576 /dev/urandom > keep/blob',
    );
    expect((await client.readFile('notes/todo.md')).toString()).toBe('- ship it\n');
    expect((await client.list('')).map((e) => e.name)).toEqual(['keep', 'notes', 'seed']);

    const { pty, screen, until } = await openScreen(client);
    pty.input(Buffer.from('cat notes/todo.md\n'));
    await until('- ship it');
    pty.resize(100, 30);
    pty.input(Buffer.from('stty size\n'));
    await until('30 100');
    pty.input(Buffer.from('sleep 30; echo slept\n'));
    await new Promise((r) => setTimeout(r, 200));
    pty.input(Buffer.from('\x03echo interrupted\n'));
    await until('interrupted\r\n');
    expect(screen()).not.toMatch(/\nslept/);
    pty.input(Buffer.from('exit\n'));
    await pty.exited;

    // Hibernate as the service does: the agent archives /workspace, the archive goes to the object store,
    // the pod is deleted.
    const chunks: Buffer[] = [];
    await client.archive((c) => chunks.push(c));
    const archive = Buffer.concat(chunks);
    await objects.put('sandboxes/flow-1/snapshot.tar', archive);
    const checksum = await sh(client, 'find . -type f | sort | xargs sha256sum');
    await first.destroy();
    await podsGone(env.cluster, 'flow-1');

    // Resume: a new pod, the archive restored into it by its agent.
    const second = await env.runtime.create(sandboxSpec('flow-1', { files: [] }));
    const resumed = await second.connect();
    const stored = await objects.get('sandboxes/flow-1/snapshot.tar');
    await resumed.restore(await buffer(stored!));
    const again: Buffer[] = [];
    await resumed.archive((c) => again.push(c));
    expect(Buffer.concat(again).equals(archive)).toBe(true);
    expect(await sh(resumed, 'find . -type f | sort | xargs sha256sum')).toBe(checksum);
    expect(await sh(resumed, 'stat -c "%n %a %F" keep keep/empty keep/f keep/link')).toBe(
      'keep 755 directory\nkeep/empty 755 directory\nkeep/f 640 regular file\nkeep/link 777 symbolic link\n',
    );
    expect(podsOf(env.cluster, 'flow-1')).toHaveLength(1);
    await second.destroy();
    await podsGone(env.cluster, 'flow-1');
  }, 60_000);
});
