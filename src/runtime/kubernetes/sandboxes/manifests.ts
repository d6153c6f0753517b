import type { V1Pod } from '@kubernetes/client-node';
import { createHash, randomBytes } from 'node:crypto';
import { CrucibleError, findLanguage } from '../../../core/index.js';
import type { SandboxInstanceSpec } from '../../sandbox/sandbox-runtime.js';
import {
  CONTAINER_SECURITY,
  lockedDownPodSpec,
  RUNNER_BIN_DIR,
  RUNNER_PATH,
  RUNNER_VOLUME,
  runnerSetupContainer,
  type ManifestOptions,
} from '../manifests.js';
import {
  LABEL_PREFIX,
  MAIN_CONTAINER,
  MANAGED_LABEL,
  MANAGED_VALUE,
  PROJECT_LABEL,
  USER_LABEL,
  costLabelKey,
  labelValue,
} from '../names.js';

/** Selects every pod of one sandbox (all its instances: a resumed sandbox gets a new pod). */
export const SANDBOX_LABEL = `${LABEL_PREFIX}/sandbox`;
/** The sandbox id as given (a label value may have been shortened). */
export const SANDBOX_ANNOTATION = `${LABEL_PREFIX}/sandbox-id`;
export const WORKSPACE = '/workspace';
/** The pod's main process: PID 1 that reaps and waits; the agent itself runs in exec sessions. */
export const IDLE_COMMAND = [RUNNER_PATH, 'idle'];
/** What each connection execs: one agent process speaking the framed protocol on its stdin/stdout. */
export const AGENT_COMMAND = [RUNNER_PATH, 'agent', '--workspace', WORKSPACE];

export type SandboxManifestOptions = Pick<
  ManifestOptions,
  'namespace' | 'images' | 'runnerImage' | 'runtimeClassName' | 'cpuRequest' | 'cpuLimit'
>;

/**
 * A fresh pod name per instance: the pod of a hibernated sandbox may still be terminating when it resumes,
 * and a name of its own keeps the new create from answering 409. ≤ 63 characters, DNS-1123.
 */
export function sandboxPodName(sandboxId: string, suffix = randomBytes(3).toString('hex')): string {
  const dns = sandboxId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  const hash = createHash('sha256').update(sandboxId).digest('hex').slice(0, 8);
  return `crucible-sbx-${dns ? `${dns}-` : ''}${hash}-${suffix}`;
}

/** Labels of a sandbox's pod: managed-by, the sandbox, its project and user, cost labels. */
export function sandboxLabels(spec: SandboxInstanceSpec): Record<string, string> {
  const labels: Record<string, string> = {
    [MANAGED_LABEL]: MANAGED_VALUE,
    [SANDBOX_LABEL]: labelValue(spec.sandboxId),
    ...(spec.project ? { [PROJECT_LABEL]: spec.project.id } : {}),
  };
  const user = spec.labels['user'];
  if (user) labels[USER_LABEL] = labelValue(user);
  for (const [name, value] of Object.entries(spec.labels)) {
    const key = costLabelKey(name);
    if (key) labels[key] = labelValue(value);
  }
  return labels;
}

/** The label selector of one sandbox's pods. */
export function sandboxSelector(sandboxId: string): string {
  return `${MANAGED_LABEL}=${MANAGED_VALUE},${SANDBOX_LABEL}=${labelValue(sandboxId)}`;
}

function cpuQuantity(cores: number): string {
  return `${Math.round(cores * 1000)}m`;
}

/**
 * The pod of one sandbox instance, locked down exactly as an evaluation's (lockedDownPodSpec,
 * CONTAINER_SECURITY, the same runner init container) and placed in the project's namespace when the sandbox
 * has a project. /workspace is a memory-backed emptyDir capped at `workspaceMb` (the kubelet sizes the tmpfs
 * to `sizeLimit`, so a full workspace fails writes with ENOSPC, as locally) and counts against the memory
 * limit, as the local backend's tmpfs does. Pure.
 */
export function buildSandboxPod(
  spec: SandboxInstanceSpec,
  options: SandboxManifestOptions,
  name: string,
): V1Pod {
  const language = findLanguage(spec.language);
  if (!language) {
    throw new CrucibleError('unknown_language', `Unknown language "${spec.language}".`, 'language');
  }
  const memory = `${spec.limits.memoryMb}Mi`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: spec.project?.namespace ?? options.namespace,
      labels: sandboxLabels(spec),
      annotations: { [SANDBOX_ANNOTATION]: spec.sandboxId },
    },
    spec: {
      ...lockedDownPodSpec(options),
      initContainers: [runnerSetupContainer(options)],
      containers: [
        {
          name: MAIN_CONTAINER,
          image: options.images[language.id] ?? language.image,
          command: IDLE_COMMAND,
          workingDir: WORKSPACE,
          securityContext: CONTAINER_SECURITY,
          resources: {
            requests: { cpu: options.cpuRequest, memory },
            limits: { cpu: spec.limits.cpus ? cpuQuantity(spec.limits.cpus) : options.cpuLimit, memory },
          },
          volumeMounts: [
            { name: RUNNER_VOLUME.name, mountPath: RUNNER_BIN_DIR, readOnly: true },
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'workspace', mountPath: WORKSPACE },
          ],
        },
      ],
      volumes: [
        RUNNER_VOLUME,
        { name: 'tmp', emptyDir: { sizeLimit: `${spec.limits.tmpSizeMb}Mi` } },
        { name: 'workspace', emptyDir: { medium: 'Memory', sizeLimit: `${spec.limits.workspaceMb}Mi` } },
      ],
    },
  };
}
