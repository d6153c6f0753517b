import { z } from 'zod';

/**
 * Options of the Kubernetes runtime: plain data, validated once at the composition root. Nothing here reads
 * the environment; `kubeconfigPath` (or `KUBECONFIG`, or the in-cluster service account) is resolved by
 * `kube-client.ts` only.
 */
export const kubernetesRuntimeOptionsSchema = z.object({
  /** Namespace where evaluation Jobs run; it gets a default-deny NetworkPolicy. */
  namespace: z.string().min(1).default('crucible-evaluations'),
  kubeconfigPath: z.string().min(1).optional(),
  /** Image per language id; languages not listed use the default image of the language table. */
  images: z.record(z.string(), z.string().min(1)).default({}),
  /** Compile limits over the language table's, per language id (the server's `--compile-limits`). */
  compileLimits: z
    .record(
      z.string(),
      z
        .object({
          timeoutSeconds: z.number().int().positive(),
          memoryMb: z.number().int().positive(),
          maxProcesses: z.number().int().positive(),
          tmpSizeMb: z.number().int().positive(),
          buildSizeMb: z.number().int().positive(),
        })
        .partial(),
    )
    .default({}),
  /**
   * Image holding the static `crucible-runner` binary at `/crucible-runner`; an init container copies it
   * into the pod (Argo's emissary pattern) so the runner works in any language image.
   */
  runnerImage: z.string().min(1).default('ghcr.io/crucible/runner:0.1.0'),
  /** RuntimeClass (e.g. `gvisor`) for evaluation pods; none when unset. */
  runtimeClassName: z.string().min(1).optional(),
  /**
   * Evaluation pods get the PriorityClass `<prefix><priority>` (`deploy/` installs `crucible-low`,
   * `crucible-normal`, `crucible-high`); none when unset, since a pod naming a missing class is refused.
   */
  priorityClassPrefix: z.string().min(1).optional(),
  /**
   * Kueue LocalQueue: Jobs are created suspended with the `kueue.x-k8s.io/queue-name` label and Kueue admits
   * them (unsuspends them) when its quota allows; the pending timeout counts from admission.
   */
  kueueQueue: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label (lower case, digits, "-")')
    .max(63)
    .optional(),
  /** Upper bound of the `/tmp` emptyDir; the evaluation's own `tmpSizeMb` applies when smaller. */
  tmpSizeMb: z.number().int().positive().default(64),
  /** Safety net only: Crucible deletes each Job itself once its result and logs are stored. */
  jobTtlSeconds: z.number().int().positive().default(3600),
  /** Added to the time limit for `activeDeadlineSeconds`: covers scheduling and start; the runner enforces the exact limit on the program. */
  deadlineAllowanceSeconds: z.number().int().nonnegative().default(10),
  cpuRequest: z.string().default('100m'),
  cpuLimit: z.string().default('1'),
  /** Seconds a pod may stay unschedulable before the evaluation ends as `error`/`unschedulable`. */
  unschedulableGraceSeconds: z.number().nonnegative().default(30),
  /** Seconds a pod may stay Pending for any reason before the evaluation ends as `error`. */
  pendingTimeoutSeconds: z.number().positive().default(300),
  /**
   * Seconds a project's evaluation may wait for its pod to be admitted by the project's ResourceQuota (the
   * Job controller retries as quota frees) before it ends as `error` / `quota_exceeded`. Also added to the
   * Job's `activeDeadlineSeconds`, so the Job's own deadline does not end the wait first.
   */
  quotaWaitSeconds: z.number().positive().default(300),
  /** Seconds to wait for the last log lines after the container terminated. */
  logGraceSeconds: z.number().positive().default(10),
  monitor: z.enum(['watch', 'poll']).default('watch'),
  /** Poll monitor only (kept for comparison): interval between lists. */
  pollIntervalMs: z.number().int().positive().default(10_000),
  /** Watch requests ask the server to end after a random time in this range (client-go: 5–10 min). */
  watchTimeoutSecondsMin: z.number().int().positive().default(300),
  watchTimeoutSecondsMax: z.number().int().positive().default(600),
  /** Restart a watch that delivered nothing (not even a bookmark) for this long: catches half-open sockets. */
  watchIdleTimeoutMs: z.number().int().positive().default(90_000),
  backoffInitialMs: z.number().int().positive().default(800),
  backoffMaxMs: z.number().int().positive().default(30_000),
  /** A connection healthy this long resets the backoff (client-go: 2 min). */
  backoffResetMs: z.number().int().positive().default(120_000),
  /** How long `adopt` waits for the first list before rejecting. */
  readyTimeoutMs: z.number().int().positive().default(30_000),
  /** One API call (create, ensure, delete) that has not answered after this long is repeated. */
  requestTimeoutMs: z.number().int().positive().default(10_000),
  /**
   * Creating an evaluation's objects is retried until its own deadline: `timeoutSeconds` plus this margin
   * after `start`. Past it the evaluation ends as `error`.
   */
  startRetryMarginSeconds: z.number().nonnegative().default(30),
  /** How long deleting a finished or cancelled evaluation's Job and ConfigMaps is retried (then: the TTL). */
  cleanupRetrySeconds: z.number().positive().default(60),
  /** Retry interval of a log follow that the server refused because the container is not running yet. */
  logRetryMs: z.number().int().positive().default(100),
});

export type KubernetesRuntimeOptionsInput = z.input<typeof kubernetesRuntimeOptionsSchema>;
export type KubernetesOptions = z.output<typeof kubernetesRuntimeOptionsSchema>;

/** What `createKubernetesRuntime` takes: the plain options plus injectable non-data collaborators. */
export interface KubernetesRuntimeOptions extends KubernetesRuntimeOptionsInput {
  /** Clock for timestamps of our own decisions (watchdogs); defaults to `new Date()`. */
  readonly clock?: () => Date;
  /** Where non-fatal problems go (reconnects, lost log lines); defaults to nothing. */
  readonly warn?: (message: string) => void;
  /**
   * Resolves once the service stored an evaluation's result and logs. The Job is deleted only after it (and
   * after `finished` returned); without it, after `finished` returned.
   */
  readonly whenPersisted?: (evaluationId: string) => Promise<void>;
  /** Wraps each Kubernetes API call (a tracing span, docs/observability.md); absent: calls go as they are. */
  readonly traceCall?: <T>(name: string, work: () => Promise<T>) => Promise<T>;
}

export function parseKubernetesOptions(input: KubernetesRuntimeOptionsInput = {}): KubernetesOptions {
  return kubernetesRuntimeOptionsSchema.parse(input);
}
