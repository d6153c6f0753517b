import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_ARTIFACTS_MB, DEFAULT_BOUNDS, DEFAULT_LIMITS, DEFAULT_MAX_LOG_MB } from '../core/index.js';
import { parseRetentionRule } from '../service/retention-rules.js';
import { secretProblem } from '../webhooks/signer.js';
import { compileLimitsFromEnv, foldCompileLimits, parseCompileLimitsEntry } from './compile-limits.js';

/** `NAME=KUBECONFIG` (a flag or an entry of `CRUCIBLE_CLUSTERS`); without `=` the schema refuses it. */
function clusterEntry(text: string): { name: string; kubeconfig: string } {
  const at = text.indexOf('=');
  return at < 0
    ? { name: text.trim(), kubeconfig: '' }
    : { name: text.slice(0, at).trim(), kubeconfig: text.slice(at + 1).trim() };
}

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const S3_URL = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/;

/** The config field: entries validated, then folded into overrides per language id. */
const compileLimitsSchema = z
  .array(z.string())
  .superRefine((entries, context) => {
    for (const entry of entries) {
      try {
        parseCompileLimitsEntry(entry);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }
  })
  .default([])
  .transform(foldCompileLimits);

/**
 * Default concurrency of the `kubernetes` backend: the cluster does the work, not this server's cores. The
 * server lowers it to what the namespace's ResourceQuota admits when there is one.
 */
export const KUBERNETES_DEFAULT_CONCURRENCY = 64;

/** The local backend runs evaluations on this machine: one per core. */
function defaultConcurrency(backend: 'local' | 'kubernetes'): number {
  return backend === 'kubernetes' ? KUBERNETES_DEFAULT_CONCURRENCY : Math.max(1, os.availableParallelism());
}

/**
 * The server's whole configuration, validated once at the entry. Services receive plain values from here and
 * never read the environment themselves.
 */
const ServerConfigFields = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: intFrom(0, 65535).default(8080),
  dataDir: z.string().min(1).default('.crucible'),
  /** `sqlite:<path>` (default: `<dataDir>/crucible.db`) or `postgres://…`. */
  store: z.string().min(1).optional(),
  backend: z.enum(['local', 'kubernetes']).default('local'),
  sandbox: z.enum(['bwrap', 'gvisor', 'none']).default('bwrap'),
  /** Default by backend: cores for `local`, 64 (bounded by the namespace's quota) for `kubernetes`. */
  concurrency: intFrom(1, 1024).optional(),
  /**
   * Evaluations `starting` or `running` at once across every replica sharing the store; default: no limit
   * beyond each replica's `concurrency`.
   */
  globalConcurrency: intFrom(1, 1_000_000).optional(),
  /** This replica's name, unique among replicas sharing a store (default: host name + a random suffix). */
  replicaId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/, 'letters, digits, ".", "_", ":" or "-", at most 253')
    .optional(),
  /**
   * The URL other replicas reach this one at (on its lease row), for calls on the interactive sandboxes live
   * here; default the address it listens on (set it when that is 0.0.0.0 or behind a NAT: the pod IP).
   */
  advertiseUrl: z.url().optional(),
  /** A replica's lease on its work (and the Kubernetes leader Lease): others take over after it runs out. */
  leaseSeconds: intFrom(1, 600).default(15),
  leaderElection: z
    .object({
      /** Namespace of the `coordination.k8s.io/v1` Lease (default: the evaluations' namespace). */
      namespace: z.string().optional(),
      name: z.string().default('crucible-leader'),
    })
    .prefault({}),
  /** Each this many seconds of waiting lifts a queued evaluation one priority level, so `low` never starves. */
  agingSeconds: z.coerce.number().positive().max(86_400).default(30),
  limits: z
    .object({
      timeoutSeconds: intFrom(1, 86_400).default(DEFAULT_LIMITS.timeoutSeconds),
      memoryMb: intFrom(16, 1_048_576).default(DEFAULT_LIMITS.memoryMb),
      maxProcesses: intFrom(1, 100_000).default(DEFAULT_LIMITS.maxProcesses),
      maxOutputBytes: intFrom(1, 1 << 30).default(DEFAULT_LIMITS.maxOutputBytes),
      tmpSizeMb: intFrom(1, 1_048_576).default(DEFAULT_LIMITS.tmpSizeMb),
      /** Stored bytes of each evaluation's `/artifacts` unless its submission asks for another cap. */
      artifactsMb: intFrom(0, 1_048_576).default(DEFAULT_ARTIFACTS_MB),
    })
    .prefault({}),
  /** Compile limits over the language table's, per language (`--compile-limits`, docs/languages.md). */
  compileLimits: compileLimitsSchema,
  bounds: z
    .object({
      maxCodeBytes: intFrom(1, 64 << 20).default(DEFAULT_BOUNDS.maxCodeBytes),
      maxStdinBytes: intFrom(0, 64 << 20).default(DEFAULT_BOUNDS.maxStdinBytes),
      minTimeoutSeconds: intFrom(1, 86_400).default(DEFAULT_BOUNDS.minTimeoutSeconds),
      maxTimeoutSeconds: intFrom(1, 86_400).default(DEFAULT_BOUNDS.maxTimeoutSeconds),
      minMemoryMb: intFrom(1, 1_048_576).default(DEFAULT_BOUNDS.minMemoryMb),
      maxMemoryMb: intFrom(1, 1_048_576).default(DEFAULT_BOUNDS.maxMemoryMb),
      /** The largest `artifactsMb` a submission may ask for; also each local run's `/artifacts` tmpfs size. */
      maxArtifactsMb: intFrom(0, 1_048_576).default(1024),
      /** The largest `maxLogBytes` a submission may ask for, in MiB (`--max-log-mb`). */
      maxLogMb: intFrom(0, 1_048_576).default(DEFAULT_MAX_LOG_MB),
    })
    .prefault({}),
  api: z
    .object({
      /** Requests per client IP per minute; 0 disables the limit. */
      rateLimitPerMinute: intFrom(0, 10_000_000).default(6000),
      maxStreams: intFrom(1, 100_000).default(1000),
      maxStreamsPerClient: intFrom(1, 100_000).default(100),
    })
    .prefault({}),
  /**
   * More than one cluster (`--cluster NAME=KUBECONFIG`, repeated; env `CRUCIBLE_CLUSTERS="a=/path,b=/path"`):
   * the kubernetes backend spreads evaluations over them (docs/kubernetes.md, "More than one cluster").
   */
  clusters: z
    .array(
      z.preprocess(
        (entry) => (typeof entry === 'string' ? clusterEntry(entry) : entry),
        z.object({
          name: z
            .string()
            .regex(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/, 'NAME=KUBECONFIG, NAME a label value'),
          kubeconfig: z.string().min(1, 'NAME=KUBECONFIG needs a kubeconfig path'),
        }),
      ),
    )
    .default([])
    .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'cluster names must differ'),
  /** A cluster unreachable this long: what ran there ends as `error` / `cluster_unreachable`. */
  clusterLostAfterSeconds: z.coerce.number().positive().max(86_400).default(120),
  kubernetes: z
    .object({
      kubeconfig: z.string().optional(),
      namespace: z.string().default('crucible-evaluations'),
      runnerImage: z.string().optional(),
      runtimeClassName: z.string().optional(),
      /** Evaluation pods get PriorityClass `<prefix><priority>` (deploy/ installs `crucible-…`). */
      priorityClassPrefix: z.string().optional(),
      /** Kueue LocalQueue: Jobs are created suspended for Kueue to admit (`--kueue-queue`). */
      kueueQueue: z.string().optional(),
      /** A project's evaluation waiting for its namespace's quota ends `quota_exceeded` after this long. */
      quotaWaitSeconds: z.coerce.number().positive().max(86_400).optional(),
    })
    .prefault({}),
  /** The `Evaluation` custom resource controller (runs where the work runs: on the leader). */
  crd: z
    .object({
      /** `--crd`, `CRUCIBLE_CRD=on`. */
      enabled: z
        .union([z.boolean(), z.enum(['on', 'off', 'true', 'false', '1', '0', ''])])
        .transform((v) => v === true || v === 'on' || v === 'true' || v === '1')
        .default(false),
      /** Namespaces whose Evaluations are reconciled; `*` means every namespace. Default: `kubernetes.namespace`. */
      namespaces: z.array(z.string().min(1)).optional(),
    })
    .prefault({}),
  /** Bearer tokens (docs/auth.md). */
  auth: z
    .object({
      /** `--auth`, `CRUCIBLE_AUTH`; absent: required when `host` is not loopback, off on loopback. */
      mode: z.enum(['required', 'off'], { error: 'auth must be required or off' }).optional(),
      /** `CRUCIBLE_ADMIN_TOKEN`: a bootstrap admin token (not stored; env only, a flag would show in ps). */
      adminToken: z
        .string()
        .min(16, {
          error: 'CRUCIBLE_ADMIN_TOKEN must be at least 16 characters (use e.g. openssl rand -hex 32)',
        })
        .optional(),
    })
    .prefault({}),
  /** OpenTelemetry traces over OTLP/HTTP (docs/observability.md): off until an endpoint is set. */
  tracing: z
    .object({
      /** `OTEL_EXPORTER_OTLP_ENDPOINT`: traces go to `<it>/v1/traces`. */
      endpoint: z
        .url({ error: 'OTEL_EXPORTER_OTLP_ENDPOINT must be a URL such as http://127.0.0.1:4318' })
        .optional(),
      /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full traces URL. */
      tracesEndpoint: z
        .url({
          error: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be a URL such as http://127.0.0.1:4318/v1/traces',
        })
        .optional(),
      /** `OTEL_SERVICE_NAME`, default `crucible`. */
      serviceName: z.string().min(1).optional(),
      /** `OTEL_BSP_SCHEDULE_DELAY`: ms finished spans wait to be exported together. */
      scheduleDelayMs: z.coerce.number().int().min(0).max(600_000).optional(),
    })
    .prefault({}),
  /** Artifacts and logs past the inline cap (docs/artifacts.md). */
  objects: z
    .object({
      /** `--object-store`, `CRUCIBLE_OBJECT_STORE`: `s3://BUCKET[/PREFIX]` or a directory (default `<dataDir>/objects`). */
      url: z
        .string()
        .refine((url) => !url.startsWith('s3:') || S3_URL.test(url), {
          error: 'object store must be s3://BUCKET[/PREFIX] or a directory',
        })
        .optional(),
      /** `--s3-endpoint`, `CRUCIBLE_S3_ENDPOINT`: an S3-compatible service (addressed path-style). */
      s3Endpoint: z.url({ error: 's3 endpoint must be a URL such as http://127.0.0.1:9000' }).optional(),
      /** `CRUCIBLE_S3_FORCE_PATH_STYLE=on|off`; default: on with an endpoint. */
      s3ForcePathStyle: z
        .enum(['on', 'off', 'true', 'false', '1', '0'])
        .transform((v) => v === 'on' || v === 'true' || v === '1')
        .optional(),
    })
    .prefault({}),
  /** Retention and disk pressure (docs/retention.md). */
  storage: z
    .object({
      /** `--retention 30d`, `CRUCIBLE_RETENTION`: terminal evaluations older than this are deleted. */
      retention: z
        .string()
        .regex(/^[1-9][0-9]*(s|m|h|d|w)$/, { error: 'retention must be a duration such as 30d, 12h or 90m' })
        .optional(),
      /**
       * `--retention-for label:KEY=VALUE=AGE|user:NAME=AGE` (repeatable), `CRUCIBLE_RETENTION_FOR` (comma
       * separated): ages per label or user over the default (docs/retention.md, "Rules").
       */
      retentionFor: z
        .array(z.string())
        .superRefine((rules, context) => {
          for (const rule of rules) {
            try {
              parseRetentionRule(rule);
            } catch (error) {
              context.addIssue({ code: 'custom', message: (error as Error).message });
            }
          }
        })
        .default([]),
      /** `--min-free-mb`, `CRUCIBLE_MIN_FREE_MB`: below this much free space new work answers 503. */
      minFreeMb: intFrom(0, 1 << 30).default(256),
    })
    .prefault({}),
  /** Signed webhooks (docs/webhooks.md): off until a secret is set. */
  webhooks: z
    .object({
      /** `--webhook-secret`, `CRUCIBLE_WEBHOOK_SECRET`: base64, optionally `whsec_`-prefixed, ≥ 16 bytes. */
      secret: z
        .string()
        .superRefine((secret, context) => {
          const problem = secretProblem(secret);
          if (problem) context.addIssue({ code: 'custom', message: problem });
        })
        .optional(),
      /** `--webhook-allow-private`, `CRUCIBLE_WEBHOOK_ALLOW_PRIVATE=on`: receivers on internal networks. */
      allowPrivate: z
        .union([z.boolean(), z.enum(['on', 'off', 'true', 'false', '1', '0', ''])])
        .transform((v) => v === true || v === 'on' || v === 'true' || v === '1')
        .default(false),
    })
    .prefault({}),
});

export const ServerConfigSchema = ServerConfigFields.transform((config) => ({
  ...config,
  replicaId: config.replicaId ?? `${os.hostname()}-${Math.random().toString(36).slice(2, 8)}`,
  concurrency: config.concurrency ?? defaultConcurrency(config.backend),
  /** Set by flag or environment: it then wins over the namespace's ResourceQuota too. */
  concurrencyExplicit: config.concurrency !== undefined,
}));

export type ServerConfig = z.output<typeof ServerConfigSchema>;
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;

/** Environment variables the server understands; flags win over them. */
export function configFromEnv(env: NodeJS.ProcessEnv): ServerConfigInput {
  return {
    host: env.CRUCIBLE_HOST,
    port: env.CRUCIBLE_PORT,
    dataDir: env.CRUCIBLE_DATA_DIR,
    store: env.CRUCIBLE_STORE,
    backend: env.CRUCIBLE_BACKEND as ServerConfigInput['backend'],
    sandbox: env.CRUCIBLE_SANDBOX as ServerConfigInput['sandbox'],
    concurrency: env.CRUCIBLE_CONCURRENCY,
    agingSeconds: env.CRUCIBLE_AGING_SECONDS,
    globalConcurrency: env.CRUCIBLE_GLOBAL_CONCURRENCY,
    replicaId: env.CRUCIBLE_REPLICA_ID,
    advertiseUrl: env.CRUCIBLE_ADVERTISE_URL,
    leaseSeconds: env.CRUCIBLE_LEASE_SECONDS,
    leaderElection: {
      namespace: env.CRUCIBLE_LEADER_ELECTION_NAMESPACE,
      name: env.CRUCIBLE_LEADER_ELECTION_NAME,
    },
    api: { rateLimitPerMinute: env.CRUCIBLE_RATE_LIMIT_PER_MINUTE },
    ...(env.CRUCIBLE_CLUSTERS
      ? { clusters: env.CRUCIBLE_CLUSTERS.split(',').filter((entry) => entry.trim() !== '') }
      : {}),
    clusterLostAfterSeconds: env.CRUCIBLE_CLUSTER_LOST_AFTER_SECONDS,
    kubernetes: {
      kubeconfig: env.KUBECONFIG,
      namespace: env.CRUCIBLE_K8S_NAMESPACE,
      runnerImage: env.CRUCIBLE_K8S_RUNNER_IMAGE,
      runtimeClassName: env.CRUCIBLE_K8S_RUNTIME_CLASS,
      priorityClassPrefix: env.CRUCIBLE_K8S_PRIORITY_CLASS_PREFIX,
      kueueQueue: env.CRUCIBLE_KUEUE_QUEUE,
      quotaWaitSeconds: env.CRUCIBLE_K8S_QUOTA_WAIT_SECONDS,
    },
    auth: {
      mode: env.CRUCIBLE_AUTH || undefined,
      adminToken: env.CRUCIBLE_ADMIN_TOKEN || undefined,
    },
    tracing: {
      endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
      tracesEndpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined,
      serviceName: env.OTEL_SERVICE_NAME || undefined,
      scheduleDelayMs: env.OTEL_BSP_SCHEDULE_DELAY || undefined,
    },
    limits: { artifactsMb: env.CRUCIBLE_ARTIFACTS_MB || undefined },
    bounds: { maxLogMb: env.CRUCIBLE_MAX_LOG_MB || undefined },
    compileLimits: compileLimitsFromEnv(env.CRUCIBLE_COMPILE_LIMITS),
    storage: {
      retention: env.CRUCIBLE_RETENTION || undefined,
      retentionFor: env.CRUCIBLE_RETENTION_FOR?.split(',')
        .map((rule) => rule.trim())
        .filter(Boolean),
      minFreeMb: env.CRUCIBLE_MIN_FREE_MB || undefined,
    },
    objects: {
      url: env.CRUCIBLE_OBJECT_STORE || undefined,
      s3Endpoint: env.CRUCIBLE_S3_ENDPOINT || undefined,
      s3ForcePathStyle: env.CRUCIBLE_S3_FORCE_PATH_STYLE || undefined,
    },
    webhooks: {
      secret: env.CRUCIBLE_WEBHOOK_SECRET || undefined,
      allowPrivate: env.CRUCIBLE_WEBHOOK_ALLOW_PRIVATE as 'on' | undefined,
    },
    crd: {
      enabled: env.CRUCIBLE_CRD as 'on' | undefined,
      namespaces: env.CRUCIBLE_CRD_NAMESPACES?.split(',')
        .map((ns) => ns.trim())
        .filter(Boolean),
    },
  } as ServerConfigInput;
}

export function storeUrl(config: ServerConfig): string {
  return config.store ?? `sqlite:${path.resolve(config.dataDir, 'crucible.db')}`;
}

/** The store URL with any password replaced, fit for a log line (a `postgres://` URL carries one). */
export function redactedStoreUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL with an authority (e.g. `sqlite:/path`): nothing in it is secret, but never echo garbage.
    return url.includes('@') ? url.replace(/\/\/[^@]*@/, '//***@') : url;
  }
}
