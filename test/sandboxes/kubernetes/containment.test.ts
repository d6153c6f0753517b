import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentClient } from '../../../src/runtime/sandbox/agent-client.js';
import type { SandboxInstance } from '../../../src/runtime/sandbox/sandbox-runtime.js';
import { sandboxSpec } from '../runtime-conformance.js';
import { skipReason, startKubeSandboxes, type KubeSandboxEnv } from './harness.js';

let env: KubeSandboxEnv;
let instance: SandboxInstance;
let client: AgentClient;
beforeAll(async () => {
  if (skipReason) return;
  env = await startKubeSandboxes();
  instance = await env.runtime.create(sandboxSpec('contained'));
  client = await instance.connect();
}, 60_000);
afterAll(async () => {
  await instance?.destroy();
  await env?.close();
});

/** Runs a Python probe in the sandbox; it prints one JSON object of what it managed. */
async function probe(code: string): Promise<Record<string, unknown>> {
  const out: Buffer[] = [];
  await client.exec({ argv: ['python3', '-c', code], timeoutMs: 10_000 }, (s, d) => {
    if (s === 'stdout') out.push(d);
  });
  return JSON.parse(Buffer.concat(out).toString()) as Record<string, unknown>;
}

// What the sandbox pod as the fake kubelet runs it lets a program do; the pod spec adds no hole (no token,
// no host path, no port), and the agent's exec runs with the pod's identity and namespaces.
describe.skipIf(skipReason !== null)('inside a Kubernetes sandbox (fake API server)', () => {
  it('cannot reach the API server, the host or the network, and has no service account token', async () => {
    const port = new URL(env.cluster.url).port;
    const result = await probe(`
import json, os, socket
def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False
print(json.dumps({
    "api": connect("127.0.0.1", ${port}),
    "outside": connect("1.1.1.1", 53),
    "token": os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"),
}))`);
    expect(result).toEqual({ api: false, outside: false, token: false });
  });

  it('sees only its own processes and files, as the sandbox user, on a read-only root', async () => {
    const result = await probe(`
import json, os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
def writable(path):
    try:
        open(path, "w").close()
        return True
    except OSError:
        return False
print(json.dumps({
    "uid": os.getuid(),
    "hostRepo": os.path.exists("/work/main/package.json"),
    "hostEtc": os.path.exists("/etc/shadow"),
    "fewProcesses": len(pids) < 20,
    "rootWritable": writable("/x"),
    "workspaceWritable": writable("/workspace/x"),
}))`);
    expect(result).toEqual({
      uid: 65534,
      hostRepo: false,
      hostEtc: false,
      fewProcesses: true,
      rootWritable: false,
      workspaceWritable: true,
    });
  });
});
