import type { Command } from 'commander';
import type { ServerConfigInput } from '../../config/index.js';

interface ServeFlags {
  port?: string;
  host?: string;
  store?: string;
  backend?: string;
  sandbox?: string;
  kubeconfig?: string;
  namespace?: string;
  concurrency?: string;
  dataDir?: string;
  rateLimit?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the API server (embedded default: local sandbox + SQLite under ./.crucible/)')
    .option('-p, --port <port>', 'port to listen on (env CRUCIBLE_PORT)', undefined)
    .option('--host <host>', 'address to bind (env CRUCIBLE_HOST; default 127.0.0.1)')
    .option('--store <url>', 'sqlite:<path> or postgres://… (env CRUCIBLE_STORE)')
    .option('--backend <backend>', 'local | kubernetes (env CRUCIBLE_BACKEND)')
    .option('--sandbox <isolation>', 'local isolation: bwrap | gvisor | none (env CRUCIBLE_SANDBOX)')
    .option('--kubeconfig <file>', 'kubeconfig for the kubernetes backend (env KUBECONFIG)')
    .option('--namespace <ns>', 'namespace for evaluation Jobs (env CRUCIBLE_K8S_NAMESPACE)')
    .option('--concurrency <n>', 'evaluations running at once (env CRUCIBLE_CONCURRENCY; default: cores)')
    .option('--data-dir <dir>', 'where the embedded store and sandbox state live (env CRUCIBLE_DATA_DIR)')
    .option(
      '--rate-limit <n>',
      'requests per minute per client, 0 = off (env CRUCIBLE_RATE_LIMIT_PER_MINUTE)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npx crucible serve\n  npx crucible serve --port 9000 --sandbox gvisor\n' +
        '  npx crucible serve --backend kubernetes --kubeconfig ~/.kube/config',
    )
    .action(async (flags: ServeFlags) => {
      // Loaded here, not at start-up: the server (fastify, zod, the store, the sandbox) is for this command only.
      const [{ ServerConfigSchema, configFromEnv }, { startServer }] = await Promise.all([
        import('../../config/index.js'),
        import('../../server.js'),
      ]);
      const env = configFromEnv(process.env);
      const input: ServerConfigInput = {
        ...env,
        port: flags.port ?? env.port,
        host: flags.host ?? env.host,
        store: flags.store ?? env.store,
        backend: (flags.backend ?? env.backend) as ServerConfigInput['backend'],
        sandbox: (flags.sandbox ?? env.sandbox) as ServerConfigInput['sandbox'],
        concurrency: flags.concurrency ?? env.concurrency,
        dataDir: flags.dataDir ?? env.dataDir,
        api: { ...env.api, rateLimitPerMinute: flags.rateLimit ?? env.api?.rateLimitPerMinute },
        kubernetes: {
          ...env.kubernetes,
          kubeconfig: flags.kubeconfig ?? env.kubernetes?.kubeconfig,
          namespace: flags.namespace ?? env.kubernetes?.namespace,
        },
      };
      const parsed = ServerConfigSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`invalid configuration: ${issue?.path.join('.')}: ${issue?.message}`);
      }
      const server = await startServer(parsed.data);
      const shutdown = (signal: string) => {
        process.stderr.write(`received ${signal}, shutting down\n`);
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    });
}
