import { STORAGE_SERVE_OPTIONS, withStorageFlags } from '../../config/storage-flags.js';
import type { ServerConfigInput } from '../../config/index.js';
import { AUTH_SERVE_OPTIONS, withAuthFlags } from '../../config/auth-flags.js';
import { WEBHOOK_SERVE_OPTIONS, withWebhookFlags } from '../../config/webhook-flags.js';
import { COMPILE_LIMITS_SERVE_OPTIONS, withCompileLimitsFlags } from '../../config/compile-limits.js';
import type { CommandSpec, Flags } from '../parser.js';

export const serveCommand: CommandSpec = {
  name: 'serve',
  description: 'start the API server (embedded default: local sandbox + SQLite under ./.crucible/)',
  options: [
    { flags: '-p, --port <port>', description: 'port to listen on (env CRUCIBLE_PORT)' },
    { flags: '--host <host>', description: 'address to bind (env CRUCIBLE_HOST; default 127.0.0.1)' },
    { flags: '--store <url>', description: 'sqlite:<path> or postgres://… (env CRUCIBLE_STORE)' },
    { flags: '--backend <backend>', description: 'local | kubernetes (env CRUCIBLE_BACKEND)' },
    {
      flags: '--sandbox <isolation>',
      description: 'local isolation: bwrap | gvisor | none (env CRUCIBLE_SANDBOX)',
    },
    { flags: '--kubeconfig <file>', description: 'kubeconfig for the kubernetes backend (env KUBECONFIG)' },
    { flags: '--namespace <ns>', description: 'namespace for evaluation Jobs (env CRUCIBLE_K8S_NAMESPACE)' },
    {
      flags: '--cluster <name=kubeconfig>',
      description:
        'a cluster to spread evaluations over, repeatable; implies --backend kubernetes (env CRUCIBLE_CLUSTERS="a=/path,b=/path")',
      collect: { initial: [], add: (value, previous) => [...(previous as string[]), value] },
    },
    {
      flags: '--cluster-lost-after <s>',
      description:
        'seconds a cluster may be unreachable before its evaluations end as errors (env CRUCIBLE_CLUSTER_LOST_AFTER_SECONDS; 120)',
    },
    {
      flags: '--crd',
      description:
        'reconcile Evaluation custom resources (crucible.dev/v1alpha1) into evaluations (env CRUCIBLE_CRD=on)',
    },
    {
      flags: '--crd-namespaces <a,b|*>',
      description:
        'namespaces whose Evaluations to reconcile, * for all (env CRUCIBLE_CRD_NAMESPACES; default --namespace)',
    },
    {
      flags: '--kueue-queue <name>',
      description:
        'create Jobs suspended in this Kueue LocalQueue, for Kueue to admit (env CRUCIBLE_KUEUE_QUEUE)',
    },
    {
      flags: '--concurrency <n>',
      description:
        'evaluations running at once (env CRUCIBLE_CONCURRENCY; default: cores for local, 64 for kubernetes, bounded by its ResourceQuota)',
    },
    {
      flags: '--global-concurrency <n>',
      description:
        'evaluations running at once across all replicas sharing a postgres:// store (env CRUCIBLE_GLOBAL_CONCURRENCY)',
    },
    {
      flags: '--replica-id <id>',
      description:
        'this replica’s name among those sharing the store (env CRUCIBLE_REPLICA_ID; default host-random)',
    },
    {
      flags: '--advertise-url <url>',
      description:
        'where other replicas reach this one, for its live sandboxes (env CRUCIBLE_ADVERTISE_URL; default: the listen address)',
    },
    {
      flags: '--lease-seconds <s>',
      description:
        'how long a dead replica’s work stays owned before others take it (env CRUCIBLE_LEASE_SECONDS; 15)',
    },
    {
      flags: '--data-dir <dir>',
      description: 'where the embedded store and sandbox state live (env CRUCIBLE_DATA_DIR)',
    },
    {
      flags: '--rate-limit <n>',
      description: 'requests per minute per client, 0 = off (env CRUCIBLE_RATE_LIMIT_PER_MINUTE)',
    },
    ...WEBHOOK_SERVE_OPTIONS,
    ...COMPILE_LIMITS_SERVE_OPTIONS,
    ...STORAGE_SERVE_OPTIONS,
    ...AUTH_SERVE_OPTIONS,
  ],
  helpAfter:
    '\nExamples:\n  crucible serve\n  crucible serve --port 9000 --sandbox gvisor\n' +
    '  crucible serve --backend kubernetes --kubeconfig ~/.kube/config\n',
  run: async (_args, flags) => {
    // Loaded here, not at start-up: the server (fastify, zod, the store, the sandbox) is for this command only.
    const [{ ServerConfigSchema, configFromEnv }, { startServer }] = await Promise.all([
      import('../../config/index.js'),
      import('../../server.js'),
    ]);
    const parsed = ServerConfigSchema.safeParse(configInput(configFromEnv(process.env), flags));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
    }
    const shutdown = (why: string, code: number) => {
      process.stderr.write(`${why}, shutting down\n`);
      void server.close().then(() => process.exit(code));
    };
    // As client-go's controllers do: a replica that lost leadership exits and comes back as a follower.
    const server = await startServer(parsed.data, undefined, {
      onLeadershipLost: () => shutdown('lost the leader Lease', 1),
    });
    const signalled = (signal: string) => shutdown(`received ${signal}`, 0);
    process.once('SIGINT', () => signalled('SIGINT'));
    process.once('SIGTERM', () => signalled('SIGTERM'));
  },
};

/** Flags over the environment's settings. */
export function configInput(env: ServerConfigInput, flags: Flags): ServerConfigInput {
  const flag = (name: string) => flags[name] as string | undefined;
  const clusterFlags = (flags['cluster'] as string[] | undefined) ?? [];
  const clusters = clusterFlags.length > 0 ? clusterFlags : env.clusters;
  // Clusters only make sense on the kubernetes backend: naming them chooses it unless a backend was set.
  const clustered = clusters !== undefined && clusters.length > 0;
  const input = withWebhookFlags(
    {
      ...env,
      ...(clusters ? { clusters } : {}),
      clusterLostAfterSeconds: flag('clusterLostAfter') ?? env.clusterLostAfterSeconds,
      port: flag('port') ?? env.port,
      host: flag('host') ?? env.host,
      store: flag('store') ?? env.store,
      backend: (flag('backend') ??
        env.backend ??
        (clustered ? 'kubernetes' : undefined)) as ServerConfigInput['backend'],
      sandbox: (flag('sandbox') ?? env.sandbox) as ServerConfigInput['sandbox'],
      concurrency: flag('concurrency') ?? env.concurrency,
      globalConcurrency: flag('globalConcurrency') ?? env.globalConcurrency,
      replicaId: flag('replicaId') ?? env.replicaId,
      advertiseUrl: flag('advertiseUrl') ?? env.advertiseUrl,
      leaseSeconds: flag('leaseSeconds') ?? env.leaseSeconds,
      dataDir: flag('dataDir') ?? env.dataDir,
      crd: {
        ...env.crd,
        ...(flags.crd === true ? { enabled: true } : {}),
        ...(flag('crdNamespaces')
          ? {
              namespaces: flag('crdNamespaces')!
                .split(',')
                .map((n) => n.trim()),
            }
          : {}),
      },
      api: { ...env.api, rateLimitPerMinute: flag('rateLimit') ?? env.api?.rateLimitPerMinute },
      kubernetes: {
        ...env.kubernetes,
        kubeconfig: flag('kubeconfig') ?? env.kubernetes?.kubeconfig,
        namespace: flag('namespace') ?? env.kubernetes?.namespace,
        kueueQueue: flag('kueueQueue') ?? env.kubernetes?.kueueQueue,
      },
    },
    flags,
  );
  return withCompileLimitsFlags(withStorageFlags(withAuthFlags(input, flags), flags), flags);
}
