import type { FastifyInstance } from 'fastify';
import { buildApi, StreamLimiter } from '../../src/api/index.js';
import { DEFAULT_BOUNDS, DEFAULT_LIMITS, type LimitBounds } from '../../src/core/index.js';
import { EventBus } from '../../src/events/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { EvaluationService, type EvaluationServiceOptions, type Logger } from '../../src/service/index.js';
import type { EvaluationStore } from '../../src/store/store.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';

/** A logger that keeps every line, so tests can assert what was (and was not) logged. */
export class MemoryLogger implements Logger {
  readonly lines: { level: 'info' | 'warn' | 'error'; message: string }[] = [];
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
  errors(): string[] {
    return this.lines.filter((l) => l.level === 'error').map((l) => l.message);
  }
}

export interface InProcessOptions extends Partial<
  Omit<EvaluationServiceOptions, 'runtime' | 'store' | 'bus'>
> {
  readonly runtime: Runtime;
  readonly store?: EvaluationStore;
  readonly bounds?: LimitBounds;
  /** The API asks for bearer tokens (docs/auth.md); pair with `adminToken`. */
  readonly authRequired?: boolean;
}

export interface InProcess {
  readonly service: EvaluationService;
  readonly store: EvaluationStore;
  readonly log: MemoryLogger;
  readonly bus: EventBus;
  api(): Promise<FastifyInstance>;
  close(): Promise<void>;
}

/** The real service (and, on demand, the real API) around a given runtime and a `:memory:` SQLite store. */
export async function inProcess(options: InProcessOptions): Promise<InProcess> {
  const store = options.store ?? createSqliteStore({ path: ':memory:' });
  await store.migrate();
  const log = options.log instanceof MemoryLogger ? options.log : new MemoryLogger();
  const bus = new EventBus();
  const service = new EvaluationService({
    concurrency: 2,
    agingMs: 30_000,
    defaultLimits: DEFAULT_LIMITS,
    ...options,
    replicaId: options.replicaId ?? 'test-replica',
    store,
    bus,
    log,
  });
  await service.start();
  let app: FastifyInstance | undefined;
  return {
    service,
    store,
    log,
    bus,
    async api() {
      const streams = new StreamLimiter(100, 50);
      app ??= await buildApi({
        service,
        bounds: options.bounds ?? DEFAULT_BOUNDS,
        metrics: createMetrics(
          bus,
          () => service.queueStats(),
          () => streams.open,
        ),
        isReady: () => true,
        rateLimitPerMinute: 0,
        streams,
        log,
        version: '0.0.0-test',
        authRequired: options.authRequired ?? false,
      });
      return app;
    },
    async close() {
      await app?.close();
      await service.stop();
      await store.close();
    },
  };
}
