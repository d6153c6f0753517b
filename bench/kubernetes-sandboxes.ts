/**
 * Kubernetes sandbox bench on the fake API server (the fake kubelet runs pods in bwrap on this host), each
 * figure next to its floor measured in the same run:
 * - create → ready (pod created, watched until running, agent exec'd, init and files) vs a bare pod's
 *   create → Running through the same watch (what the cluster itself takes);
 * - exec round trip of `true` over the agent's open connection vs one pods/exec of `true` (a WebSocket and a
 *   process per command: what a backend without an agent pays);
 * - a new agent connection (pods/exec of the agent until `ready`);
 * - hibernate (agent archive of a 10 MiB workspace + pod delete) and resume (new pod + restore) vs `tar` of
 *   the same files on this host.
 *
 * Run: `npx tsx bench/kubernetes-sandboxes.ts` (or call `benchKubernetesSandboxes()`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { CoreV1Api, Exec, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { findLanguage } from '../src/core/index.js';
import { createKubernetesSandboxRuntime } from '../src/runtime/kubernetes/sandboxes/runtime.js';
import type { SandboxInstanceSpec } from '../src/runtime/sandbox/sandbox-runtime.js';
import { closeSharedSandbox, startFakeCluster, type FakeCluster } from '../testkit/fake-kube/index.js';

const NAMESPACE = 'crucible-bench';
const LIMITS = { memoryMb: 256, maxProcesses: 64, workspaceMb: 64, tmpSizeMb: 16, cpus: null };

export interface Figure {
  readonly p50: number;
  readonly p95: number;
}

export interface KubernetesSandboxBench {
  readonly createReadyMs: Figure;
  readonly barePodRunningMs: Figure;
  readonly execTrueMs: Figure;
  readonly podExecTrueMs: Figure;
  readonly connectMs: Figure;
  readonly hibernate10MiBMs: number;
  readonly resume10MiBMs: number;
  readonly localTar10MiBMs: number;
}

function figure(samples: number[]): Figure {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: Math.round(at(0.5) * 10) / 10, p95: Math.round(at(0.95) * 10) / 10 };
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

function spec(id: string): SandboxInstanceSpec {
  return { sandboxId: id, language: 'python', limits: LIMITS, env: {}, files: [], labels: {} };
}

/** Resolves when the stored pod runs (the store's own events: the floor has no client-side watch cost). */
function running(cluster: FakeCluster, name: string): Promise<void> {
  return new Promise((resolve) => {
    const off = cluster.store.subscribe((event) => {
      const pod = event.object as V1Pod;
      if (event.resource === 'pods' && pod.metadata?.name === name && pod.status?.phase === 'Running') {
        off();
        resolve();
      }
    });
  });
}

export async function benchKubernetesSandboxes(samples = 10): Promise<KubernetesSandboxBench> {
  const cluster = await startFakeCluster();
  const runtime = await createKubernetesSandboxRuntime({
    kubeconfigPath: cluster.kubeconfigPath,
    namespace: NAMESPACE,
    warn: () => undefined,
  });
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  try {
    const createReady: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < samples; i += 1) {
      let instance: Awaited<ReturnType<typeof runtime.create>> | undefined;
      createReady.push(await timed(async () => (instance = await runtime.create(spec(`bench-${i}`)))));
      await instance!.destroy();
      const name = `bare-${i}`;
      const body: V1Pod = {
        metadata: { name },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'main',
              image: findLanguage('python')!.image,
              command: ['python3', '-c', 'import signal; signal.pause()'],
            },
          ],
        },
      };
      bare.push(
        await timed(async () => {
          const up = running(cluster, name);
          await core.createNamespacedPod({ namespace: NAMESPACE, body });
          await up;
        }),
      );
      await core.deleteNamespacedPod({ namespace: NAMESPACE, name });
    }

    const instance = await runtime.create(spec('bench-exec'));
    const client = await instance.connect();
    const execTrue: number[] = [];
    for (let i = 0; i < samples * 5; i += 1) {
      execTrue.push(await timed(() => client.exec({ argv: ['true'], timeoutMs: 10_000 }, () => undefined)));
    }
    const pod = cluster.store.list('pods', NAMESPACE)[0]!.metadata.name;
    const exec = new Exec(kc);
    const podExec: number[] = [];
    for (let i = 0; i < samples * 2; i += 1) {
      podExec.push(
        await timed(
          () =>
            new Promise<void>((resolve, reject) => {
              exec
                .exec(NAMESPACE, pod, 'main', ['true'], new PassThrough(), null, null, false, () => resolve())
                .catch(reject);
            }),
        ),
      );
    }
    const connect: number[] = [];
    let agent = client;
    for (let i = 0; i < samples; i += 1) {
      cluster.server.exec.dropAll();
      await agent.closed;
      connect.push(await timed(async () => (agent = await instance.connect())));
    }
    await agent.exec(
      {
        argv: [
          '/bin/sh',
          '-c',
          'mkdir -p data && for i in $(seq 10); do head -c 1048576 /dev/urandom > data/f$i; done',
        ],
        timeoutMs: 30_000,
      },
      () => undefined,
    );
    let archive = Buffer.alloc(0);
    const hibernate = await timed(async () => {
      const chunks: Buffer[] = [];
      await agent.archive((c) => chunks.push(c));
      archive = Buffer.concat(chunks);
      await instance.destroy();
    });
    const resume = await timed(async () => {
      const next = await runtime.create(spec('bench-exec'));
      await (await next.connect()).restore(archive);
      await next.destroy();
    });
    const dir = mkdtempSync(join(tmpdir(), 'k8s-sbx-bench-'));
    for (let i = 1; i <= 10; i += 1) writeFileSync(join(dir, `f${i}`), Buffer.alloc(1 << 20, i));
    const tar = await timed(async () => {
      execFileSync('tar', ['-cf', join(dir, '..', `${dir.split('/').pop()}.tar`), '-C', dir, '.']);
    });
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.tar`, { force: true });
    return {
      createReadyMs: figure(createReady),
      barePodRunningMs: figure(bare),
      execTrueMs: figure(execTrue),
      podExecTrueMs: figure(podExec),
      connectMs: figure(connect),
      hibernate10MiBMs: Math.round(hibernate),
      resume10MiBMs: Math.round(resume),
      localTar10MiBMs: Math.round(tar * 10) / 10,
    };
  } finally {
    await runtime.close();
    await cluster.close();
    // The fake kubelet's shared sandbox keeps a warm pool of bwrap processes: as benchKubernetes does.
    await closeSharedSandbox();
  }
}

export function formatKubernetesSandboxBench(r: KubernetesSandboxBench): string {
  const row = (name: string, value: string, floor: string) =>
    `${name.padEnd(44)} ${value.padEnd(20)} ${floor}`;
  return [
    row('Kubernetes sandboxes (fake API server)', 'p50 / p95 ms', 'floor (same run)'),
    row(
      'create → ready',
      `${r.createReadyMs.p50} / ${r.createReadyMs.p95}`,
      `bare pod → Running ${r.barePodRunningMs.p50} / ${r.barePodRunningMs.p95}`,
    ),
    row(
      'exec `true` over the agent connection',
      `${r.execTrueMs.p50} / ${r.execTrueMs.p95}`,
      `one pods/exec of true ${r.podExecTrueMs.p50} / ${r.podExecTrueMs.p95}`,
    ),
    row('new agent connection (pods/exec → ready)', `${r.connectMs.p50} / ${r.connectMs.p95}`, ''),
    row('hibernate 10 MiB (archive + delete pod)', `${r.hibernate10MiBMs}`, `local tar ${r.localTar10MiBMs}`),
    row('resume 10 MiB (new pod + restore)', `${r.resume10MiBMs}`, `local tar ${r.localTar10MiBMs}`),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await benchKubernetesSandboxes();
  console.log(formatKubernetesSandboxBench(result));
}
