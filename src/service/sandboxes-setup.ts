import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ServerConfig } from '../config/index.js';
import type { ObjectStore } from '../objects/index.js';
import type { SandboxRuntime } from '../runtime/sandbox/sandbox-runtime.js';
import type { EvaluationStore } from '../store/store.js';
import { SandboxService } from './sandboxes.js';

interface SetupLog {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * The interactive sandboxes of a server, or null (with the reason logged) where this host and backend have
 * no sandbox runtime: local bwrap and gVisor need the static runner (`node scripts/setup.mjs --runner`).
 */
export async function sandboxServiceFor(
  config: ServerConfig,
  store: EvaluationStore,
  objects: ObjectStore,
  log: SetupLog,
): Promise<SandboxService | null> {
  if (!store.sandboxes) return null;
  const runtime = await sandboxRuntimeFor(config, log);
  if (!runtime) return null;
  const { liveReplica, advertiseReplica } = store;
  return new SandboxService({
    store: store.sandboxes,
    // Live sandboxes are this replica's; calls reaching another replica are forwarded here (its lease row).
    ...(liveReplica && advertiseReplica
      ? {
          replica: {
            id: config.replicaId,
            directory: {
              liveReplica: liveReplica.bind(store),
              advertiseReplica: advertiseReplica.bind(store),
            },
          },
        }
      : {}),
    ...(store.projects ? { projects: store.projects } : {}),
    runtime,
    objects,
    log,
  });
}

async function sandboxRuntimeFor(config: ServerConfig, log: SetupLog): Promise<SandboxRuntime | null> {
  if (config.backend === 'kubernetes') {
    if (config.clusters.length > 0) {
      log.warn('interactive sandboxes: not over several clusters (--cluster): /v1/sandboxes is off');
      return null;
    }
    // A pod per sandbox in CRUCIBLE_K8S_NAMESPACE (or the project's), the agent over pods/exec.
    const { createKubernetesSandboxRuntime } = await import('../runtime/kubernetes/sandboxes/index.js');
    const k = config.kubernetes;
    return createKubernetesSandboxRuntime({
      namespace: k.namespace,
      ...(k.kubeconfig ? { kubeconfigPath: k.kubeconfig } : {}),
      ...(k.runtimeClassName ? { runtimeClassName: k.runtimeClassName } : {}),
      ...(k.runnerImage ? { runnerImage: k.runnerImage } : {}),
      warn: (message) => log.warn(message),
    });
  }
  if (config.sandbox === 'none') {
    log.warn(
      'interactive sandboxes need --sandbox bwrap or gvisor (this server runs none): /v1/sandboxes is off',
    );
    return null;
  }
  const { createLocalSandboxRuntime, defaultAgentBinary } =
    await import('../runtime/local/sandboxes/index.js');
  if (!existsSync(defaultAgentBinary())) {
    log.warn(
      'interactive sandboxes: the runner is not built (node scripts/setup.mjs --runner): /v1/sandboxes is off',
    );
    return null;
  }
  // gVisor's rootfs is the evaluation backend's (<data>/sandbox/gvisor); its containers have their own root.
  return createLocalSandboxRuntime({
    isolation: config.sandbox,
    stateDir: path.join(path.resolve(config.dataDir), 'sandbox', 'gvisor'),
    warn: (message) => log.warn(message),
  });
}
