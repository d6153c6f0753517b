import type {
  V1ConfigMap,
  V1Container,
  V1Job,
  V1NetworkPolicy,
  V1PodSpec,
  V1ResourceRequirements,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { CrucibleError, DEFAULT_ARTIFACTS_MB, findLanguage, withCompileLimits } from '../../core/index.js';
import type { RunRequest } from '../runtime.js';
import {
  EVALUATION_ANNOTATION,
  EVALUATION_LABEL,
  MAIN_CONTAINER,
  MANAGED_LABEL,
  MANAGED_VALUE,
  PRIORITY_LABEL,
  PROJECT_LABEL,
  USER_LABEL,
  costLabelKey,
  evaluationLabel,
  jobName,
  labelValue,
  payloadName,
} from './names.js';
import type { KubernetesOptions } from './options.js';
import { PAYLOAD_MOUNT, packPayload } from './payload.js';
import { BUILD_DIR, COMPILE_CONTAINER, isStaged, stagedPod, type StagedPod } from './staged.js';

export const RUNNER_BIN_DIR = '/crucible/bin';
export const RUNNER_PATH = `${RUNNER_BIN_DIR}/crucible-runner`;
export const WORKDIR = '/tmp/crucible';
export const STDIN_FILE = 'stdin';
export const NETWORK_POLICY_NAME = 'crucible-default-deny';
/** The label Kueue reads a Job's LocalQueue from. */
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';

/** The options the manifests depend on (a subset, so the CLI can render without a full runtime config). */
export type ManifestOptions = Pick<
  KubernetesOptions,
  | 'namespace'
  | 'images'
  | 'compileLimits'
  | 'runnerImage'
  | 'runtimeClassName'
  | 'priorityClassPrefix'
  | 'kueueQueue'
  | 'tmpSizeMb'
  | 'jobTtlSeconds'
  | 'cpuRequest'
  | 'cpuLimit'
  | 'deadlineAllowanceSeconds'
  | 'quotaWaitSeconds'
>;

export interface EvaluationManifests {
  readonly configMaps: V1ConfigMap[];
  readonly job: V1Job;
}

/** Every container's lock-down: non-root, read-only root, no privilege escalation, no capabilities. */
export const CONTAINER_SECURITY = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The pod-level lock-down every Crucible pod shares (evaluation Jobs and interactive sandboxes): uid/gid
 * 65534, seccomp RuntimeDefault, no service account token, no service links, the runtime class when set.
 */
export function lockedDownPodSpec(options: Pick<ManifestOptions, 'runtimeClassName'>) {
  return {
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: 1,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    ...(options.runtimeClassName ? { runtimeClassName: options.runtimeClassName } : {}),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      fsGroup: 65534,
      seccompProfile: { type: 'RuntimeDefault' },
    },
  } satisfies Partial<V1PodSpec>;
}

/** Where the program leaves files to keep (docs/artifacts.md); the runner streams them after it ends. */
export const ARTIFACTS_DIR = '/artifacts';

function artifactsCapMb(request: RunRequest): number {
  return request.limits.artifactsMb ?? DEFAULT_ARTIFACTS_MB;
}

/** The runner's cap is the submission's: it reports what is over it instead of sending it. */
function artifactsFlags(request: RunRequest): string[] {
  return ['--artifacts', ARTIFACTS_DIR, '--artifacts-max', String(artifactsCapMb(request) * 1024 * 1024)];
}

/**
 * Room past the cap, so a file somewhat over it is written whole and reported `over_cap` rather than cut
 * short by ENOSPC; beyond the emptyDir's sizeLimit the kubelet evicts the pod, as for `/tmp`.
 */
function artifactsVolumeMb(request: RunRequest): number {
  const cap = artifactsCapMb(request);
  return Math.max(2 * cap, cap + 64);
}

/** The emptyDir the init container installs the runner into (mounted read-only in the main container). */
export const RUNNER_VOLUME: V1Volume = { name: 'runner-bin', emptyDir: { sizeLimit: '64Mi' } };

/** The init container that copies the static runner out of the runner image into `RUNNER_VOLUME`. */
export function runnerSetupContainer(options: Pick<ManifestOptions, 'runnerImage'>) {
  return {
    name: 'runner-setup',
    image: options.runnerImage,
    command: ['/crucible-runner', 'install', RUNNER_BIN_DIR],
    securityContext: CONTAINER_SECURITY,
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '16Mi' } },
    volumeMounts: [{ name: RUNNER_VOLUME.name, mountPath: RUNNER_BIN_DIR }],
  };
}

/** An evaluation container's CPU (the server's request and limit) and memory (request = limit: no overcommit). */
function containerResources(
  options: Pick<ManifestOptions, 'cpuRequest' | 'cpuLimit'>,
  memory: string,
): V1ResourceRequirements {
  return { requests: { cpu: options.cpuRequest, memory }, limits: { cpu: options.cpuLimit, memory } };
}

/**
 * The compile stage's init container (staged.ts): the language image, the compile memory, `/build`
 * writable; the runner writes the compiler's frames to a file the main container replays, and ends 0
 * whatever the compiler did, so only a kill (an OOM) fails the pod here.
 */
function compileContainer(
  staged: StagedPod,
  image: string,
  payloadMounts: V1VolumeMount[],
  options: Pick<ManifestOptions, 'cpuRequest' | 'cpuLimit'>,
): V1Container {
  const memory = `${staged.compile?.memoryMb ?? 0}Mi`;
  return {
    name: COMPILE_CONTAINER,
    image,
    command: [RUNNER_PATH, '--payload', PAYLOAD_MOUNT, '--workdir', WORKDIR, ...(staged.compile?.args ?? [])],
    ...(staged.env.length ? { env: staged.env } : {}),
    securityContext: CONTAINER_SECURITY,
    resources: containerResources(options, memory),
    volumeMounts: [
      { name: 'runner-bin', mountPath: RUNNER_BIN_DIR, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
      ...payloadMounts,
      { name: 'build', mountPath: BUILD_DIR },
    ],
  };
}

/** Labels shared by every object of one evaluation: the watch and the cleanup select on them. */
export function evaluationLabels(request: RunRequest): Record<string, string> {
  const labels: Record<string, string> = {
    [MANAGED_LABEL]: MANAGED_VALUE,
    [EVALUATION_LABEL]: evaluationLabel(request.evaluationId),
    [PRIORITY_LABEL]: request.priority,
    ...(request.project ? { [PROJECT_LABEL]: request.project.id } : {}),
  };
  // RunRequest carries no user; the service passes it as the `user` submission label.
  const user = request.labels['user'];
  if (user) labels[USER_LABEL] = labelValue(user);
  for (const [name, value] of Object.entries(request.labels)) {
    const key = costLabelKey(name);
    if (key) labels[key] = labelValue(value);
  }
  return labels;
}

/** The LocalQueue a Job is created suspended in, if any: a project's Jobs are never (no LocalQueue there). */
export function kueueQueueOf(
  inProject: boolean,
  options: Pick<ManifestOptions, 'kueueQueue'>,
): string | undefined {
  return inProject ? undefined : options.kueueQueue;
}

/**
 * Builds the ConfigMaps and the Job of one evaluation. Pure: same request, same objects, no I/O.
 *
 * @example
 * const { configMaps, job } = buildEvaluationManifests(request, parseKubernetesOptions({ namespace: 'evals' }));
 */
export function buildEvaluationManifests(request: RunRequest, options: ManifestOptions): EvaluationManifests {
  const language = findLanguage(request.language);
  if (!language) {
    throw new CrucibleError('unknown_language', `Unknown language "${request.language}".`, 'language');
  }
  const labels = evaluationLabels(request);
  // A project's evaluations run in the project's namespace (see namespaces.ts). Its ResourceQuota bounds
  // them, not Kueue: a LocalQueue is namespaced, and none exists in a project's namespace.
  const namespace = request.project?.namespace ?? options.namespace;
  const kueueQueue = kueueQueueOf(request.project !== undefined, options);
  const annotations = { [EVALUATION_ANNOTATION]: request.evaluationId };
  const name = jobName(request.evaluationId);
  const tmpMb = Math.min(request.limits.tmpSizeMb, options.tmpSizeMb);
  // Compiled languages, files and tests: compile then run in the main container (staged.ts).
  const staged = isStaged(request, language)
    ? stagedPod(request, withCompileLimits(language, options.compileLimits), WORKDIR, tmpMb)
    : null;
  const parts = packPayload([
    { name: language.fileName, content: request.code },
    { name: STDIN_FILE, content: request.stdin },
    ...(staged?.payload ?? []),
  ]);
  const configMaps: V1ConfigMap[] = parts.map((data, index) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: payloadName(request.evaluationId, index),
      namespace,
      labels,
      annotations,
    },
    immutable: true,
    data: { ...data },
  }));

  const payloadVolumes: V1Volume[] = configMaps.map((cm, index) => ({
    name: `payload-${index}`,
    configMap: { name: cm.metadata?.name ?? '' },
  }));
  const payloadMounts: V1VolumeMount[] = payloadVolumes.map((v, index) => ({
    name: v.name,
    mountPath: `${PAYLOAD_MOUNT}/${index}`,
    readOnly: true,
  }));
  const memory = `${staged?.memoryMb ?? request.limits.memoryMb}Mi`;
  const command = [
    RUNNER_PATH,
    '--payload',
    PAYLOAD_MOUNT,
    '--workdir',
    WORKDIR,
    '--stdin',
    STDIN_FILE,
    '--timeout-ms',
    String(request.limits.timeoutSeconds * 1000),
    '--max-output',
    // One byte over the cap: the service keeps the cap and flags a stream truncated only if it sees more.
    // With `maxLogBytes` the cap is that (the service spills what follows the inline prefix).
    String(
      (staged?.maxOutputBytes ?? Math.max(request.limits.maxOutputBytes, request.limits.maxLogBytes ?? 0)) +
        1,
    ),
    ...(staged?.flags ?? []),
    ...artifactsFlags(request),
    '--',
    ...(staged?.argv ?? [language.interpreter, ...language.args(`${WORKDIR}/${language.fileName}`)]),
  ];

  const image = options.images[language.id] ?? language.image;
  const podSpec: V1PodSpec = {
    ...lockedDownPodSpec(options),
    ...(options.priorityClassPrefix
      ? { priorityClassName: `${options.priorityClassPrefix}${request.priority}` }
      : {}),
    initContainers: [
      runnerSetupContainer(options),
      ...(staged?.compile ? [compileContainer(staged, image, payloadMounts, options)] : []),
    ],
    containers: [
      {
        name: MAIN_CONTAINER,
        image,
        command,
        ...(staged?.env.length ? { env: staged.env } : {}),
        securityContext: CONTAINER_SECURITY,
        resources: containerResources(options, memory),
        volumeMounts: [
          { name: 'runner-bin', mountPath: RUNNER_BIN_DIR, readOnly: true },
          { name: 'tmp', mountPath: '/tmp' },
          { name: 'artifacts', mountPath: ARTIFACTS_DIR },
          ...payloadMounts,
          ...(staged?.mounts ?? []),
        ],
      },
    ],
    volumes: [
      RUNNER_VOLUME,
      { name: 'tmp', emptyDir: { sizeLimit: `${staged?.tmpSizeMb ?? tmpMb}Mi` } },
      { name: 'artifacts', emptyDir: { sizeLimit: `${artifactsVolumeMb(request)}Mi` } },
      ...payloadVolumes,
      ...(staged?.volumes ?? []),
    ],
  };

  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace,
      labels: kueueQueue ? { ...labels, [KUEUE_QUEUE_LABEL]: kueueQueue } : labels,
      annotations,
    },
    spec: {
      // Kueue admits a Job by unsuspending it; created running, it would bypass Kueue's quota.
      ...(kueueQueue ? { suspend: true } : {}),
      backoffLimit: 0,
      // A project's Job may wait for quota first (`quotaWaitSeconds`); the runner enforces the exact limit.
      activeDeadlineSeconds:
        (staged?.seconds ?? request.limits.timeoutSeconds) +
        options.deadlineAllowanceSeconds +
        (request.project ? options.quotaWaitSeconds : 0),
      ttlSecondsAfterFinished: options.jobTtlSeconds,
      template: { metadata: { labels, annotations }, spec: podSpec },
    },
  };
  return { configMaps, job };
}

/** The namespace-wide objects: a NetworkPolicy that denies all ingress and egress of every pod. */
export function buildNamespaceManifests(options: Pick<ManifestOptions, 'namespace'>): V1NetworkPolicy[] {
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: NETWORK_POLICY_NAME,
        namespace: options.namespace,
        labels: { [MANAGED_LABEL]: MANAGED_VALUE },
      },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    },
  ];
}

/** Every object Crucible creates for one evaluation, in creation order. Pure; used by `crucible kube render`. */
export function renderEvaluationManifests(request: RunRequest, options: ManifestOptions): object[] {
  const { configMaps, job } = buildEvaluationManifests(request, options);
  return [...buildNamespaceManifests(options), ...configMaps, job];
}
