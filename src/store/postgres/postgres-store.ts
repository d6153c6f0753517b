import { randomUUID } from 'node:crypto';
import {
  PRIORITIES,
  type Evaluation,
  type LogChunk,
  type Priority,
  type Project,
  type Status,
  type Transition,
} from '../../core/index.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import {
  IdempotencyKeyTaken,
  type Claimed,
  type ClaimRequest,
  type EvaluationStore,
  type IdempotencyKey,
  type IdempotentSubmission,
  type ListPage,
  type ListQuery,
  type LogRead,
  type OwnedEvaluation,
  ProjectNameTaken,
  type ProjectStore,
  type QueueCounts,
  type StoreChange,
  type TransitionWrite,
} from '../store.js';
import { claimQueued } from './claim.js';
import { Database } from './database.js';
import { migrateSchema } from './migrate.js';
import { integer, toEvaluationRow, toLogChunk, toProject, toTransition, type Row } from './rows.js';
import { schemaNames, statements, type SchemaNames, type Statements } from './sql.js';
import { TransitionWriter } from './transitions.js';
import { watchChanges } from './watch.js';
import { postgresTokens } from './tokens.js';
import { postgresSandboxes } from './sandboxes.js';
import type { SandboxStore } from '../sandboxes.js';
import { postgresWebhooks } from './webhooks.js';
import { postgresBatches } from './batches.js';
import type { BatchStore } from '../batches.js';
import { postgresQuotas } from './quotas.js';
import type { QuotaStore } from '../quotas.js';
import type { TokenStore } from '../tokens.js';
import type { UsageStore } from '../usage.js';
import { postgresUsage } from './usage.js';
import { postgresRetention } from './retention.js';
import type { RetentionStore } from '../retention.js';
import type { WebhookStore } from '../webhooks.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; the password never appears in errors. */
  readonly url: string;
  /** The schema holding every table (created by `migrate()` if missing); default `public`. */
  readonly schema?: string;
  /** Pool size; default 10. */
  readonly poolSize?: number;
}

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * Opens a pool on a PostgreSQL database (connections are made on first use). Call `migrate()` first. Several
 * server processes may share the database: `shared` is true.
 *
 * @example
 * const store = createPostgresStore({ url: 'postgres://crucible@db:5432/crucible' });
 * await store.migrate();
 */
export function createPostgresStore(options: PostgresStoreOptions): EvaluationStore {
  return new PostgresStore(options);
}

class PostgresStore implements EvaluationStore {
  readonly shared = true;
  readonly #db: Database;
  readonly #names: SchemaNames;
  readonly #sql: Statements;
  readonly #writer: TransitionWriter;
  readonly #url: string;
  readonly #watchers = new Set<() => Promise<void>>();
  /** In this store's NOTIFY payloads: its watcher tells its own writes from other replicas'. */
  readonly #writerTag = randomUUID();
  readonly projects: ProjectStore;
  readonly webhooks: WebhookStore;
  readonly batches: BatchStore;
  readonly tokens: TokenStore;
  readonly quotas: QuotaStore;
  readonly usage: UsageStore;
  readonly retention: RetentionStore;
  readonly sandboxes: SandboxStore;

  constructor(options: PostgresStoreOptions) {
    this.#names = schemaNames(options.schema ?? 'public');
    this.#db = new Database({ url: options.url, poolSize: options.poolSize });
    this.#url = options.url;
    this.#sql = statements(this.#names);
    this.#writer = new TransitionWriter(this.#names, this.#writerTag);
    this.projects = postgresProjects(this.#db, this.#sql);
    this.webhooks = postgresWebhooks(this.#db, this.#names);
    this.batches = postgresBatches(this.#db, this.#names);
    this.tokens = postgresTokens(this.#db, this.#names);
    this.quotas = postgresQuotas(this.#db, this.#names);
    this.usage = postgresUsage(this.#db, this.#names);
    this.retention = postgresRetention(this.#db, this.#names);
    this.sandboxes = postgresSandboxes(this.#db, this.#names);
  }

  async migrate(): Promise<void> {
    await migrateSchema(this.#db, this.#names);
  }

  async create(evaluation: Evaluation, idempotency?: IdempotencyKey): Promise<Transition> {
    if (evaluation.status !== 'queued') {
      throw new Error(`create() takes a queued evaluation; ${evaluation.id} is ${evaluation.status}`);
    }
    try {
      return await this.#writer.create(this.#db, evaluation, idempotency);
    } catch (error) {
      const constraint = uniqueViolation(error);
      if (constraint === 'idempotency_keys_pkey' && idempotency) throw new IdempotencyKeyTaken(idempotency);
      if (constraint === 'evaluations_id_key') {
        throw new Error(`evaluation ${evaluation.id} already exists`, { cause: error });
      }
      throw error;
    }
  }

  async findIdempotent(scope: string, key: string): Promise<IdempotentSubmission | null> {
    const [row] = await this.#db.query(this.#sql.findIdempotencyKey, [scope, key]);
    if (!row) return null;
    return { evaluationId: String(row['evaluation_id']), fingerprint: String(row['fingerprint']) };
  }

  async get(id: string): Promise<Evaluation | null> {
    const [row] = await this.#db.query(this.#sql.getById, [id]);
    return row ? toEvaluationRow(row).evaluation : null;
  }

  async list(query: ListQuery): Promise<ListPage> {
    if (!Number.isInteger(query.limit) || query.limit < 1) {
      throw new RangeError(`list() limit must be a positive integer, got ${query.limit}`);
    }
    const before = query.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(query.cursor);
    // One extra row tells whether a next page exists, so the last page says `nextCursor: null`.
    const params: unknown[] = [before, query.limit + 1];
    if (query.status !== undefined) params.push(query.status);
    if (query.label) params.push(query.label.key, query.label.value);
    if (query.project !== undefined) params.push(query.project);
    if (query.user !== undefined) params.push(query.user);
    const sql = this.#sql.list({
      status: query.status !== undefined,
      label: query.label !== undefined,
      project: query.project !== undefined,
      user: query.user !== undefined,
    });
    const rows = (await this.#db.query(sql, params)).map(toEvaluationRow);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => r.evaluation),
      nextCursor: rows.length > query.limit && last ? encodeCursor(last.rowOrder) : null,
    };
  }

  async saveTransition(write: TransitionWrite): Promise<Transition | null> {
    const [transition] = await this.#writer.compareAndSet(this.#db, [write], null);
    return transition ?? null;
  }

  async transitionsAfter(afterSeq: number, limit: number): Promise<Transition[]> {
    return (await this.#db.query(this.#sql.transitionsAfter, [afterSeq, limit])).map(toTransition);
  }

  async latestTransitionSeq(): Promise<number> {
    const [row] = await this.#db.query(this.#sql.latestTransitionSeq);
    return row ? integer(row, 'last_seq') : 0;
  }

  async transitionsOf(evaluationId: string): Promise<Transition[]> {
    return (await this.#db.query(this.#sql.transitionsOf, [evaluationId])).map(toTransition);
  }

  async appendLogs(chunks: readonly LogChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    await this.#db.query(this.#sql.insertLogs, [
      chunks.map((c) => c.evaluationId),
      chunks.map((c) => c.seq),
      chunks.map((c) => c.stream),
      chunks.map((c) => c.data),
      chunks.map((c) => c.at),
      this.#names.channel,
    ]);
  }

  async readLogs(evaluationId: string, read: LogRead = {}): Promise<LogChunk[]> {
    const rows: Row[] = await this.#db.query(this.#sql.readLogs, [
      evaluationId,
      read.afterSeq ?? 0,
      read.stream ?? null,
      read.limit ?? null,
    ]);
    return rows.map(toLogChunk);
  }

  async listByStatus(statuses: readonly Status[]): Promise<Evaluation[]> {
    if (statuses.length === 0) return [];
    const rows = await this.#db.query(this.#sql.listByStatus, [statuses]);
    return rows.map((row) => toEvaluationRow(row).evaluation);
  }

  async claimQueued(request: ClaimRequest): Promise<Claimed[]> {
    return claimQueued(this.#db, this.#names, this.#sql, this.#writer, request);
  }

  async queueCounts(): Promise<QueueCounts> {
    const queued = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    let active = 0;
    let awaitingAdmission = 0;
    for (const row of await this.#db.query<{ status: string; priority: Priority; held: boolean; n: number }>(
      this.#sql.queueCounts,
    )) {
      if (row.status !== 'queued') active += row.n;
      else {
        queued[row.priority] += row.n;
        if (row.held) awaitingAdmission += row.n;
      }
    }
    return { queued, active, awaitingAdmission };
  }

  async renewLease(replica: string, ttlMs: number): Promise<void> {
    await this.#db.query(this.#sql.renewLease, [replica, ttlMs]);
  }

  async dropLease(replica: string): Promise<void> {
    await this.#db.query(this.#sql.dropLease, [replica]);
  }

  async advertiseReplica(replica: string, url: string): Promise<void> {
    await this.#db.query(this.#sql.advertiseReplica, [replica, url]);
  }

  async liveReplica(replica: string): Promise<{ url: string | null } | null> {
    const [row] = await this.#db.query(this.#sql.liveReplica, [replica]);
    return row ? { url: row['url'] === null ? null : String(row['url']) } : null;
  }

  async listOrphans(): Promise<OwnedEvaluation[]> {
    return (await this.#db.query(this.#sql.listOrphans)).map((row) => {
      const { evaluation, owner } = toEvaluationRow(row);
      return { evaluation, owner };
    });
  }

  async listOwned(owner: string, statuses: readonly Status[]): Promise<Evaluation[]> {
    if (statuses.length === 0) return [];
    const rows = await this.#db.query(this.#sql.listOwned, [owner, statuses]);
    return rows.map((row) => toEvaluationRow(row).evaluation);
  }

  async transferOwnership(evaluationId: string, from: string | null, to: string): Promise<boolean> {
    return (await this.#db.query(this.#sql.transferOwnership, [evaluationId, from, to])).length === 1;
  }

  async watchChanges(listener: (change: StoreChange) => void): Promise<() => Promise<void>> {
    const stop = await watchChanges(
      { url: this.#url, names: this.#names, scrub: (e) => this.#db.scrub(e), writerTag: this.#writerTag },
      listener,
    );
    const once = async () => {
      this.#watchers.delete(once);
      await stop();
    };
    this.#watchers.add(once);
    return once;
  }

  /** Also stops watchers still running: their connections would keep the process alive. */
  async close(): Promise<void> {
    await Promise.all([...this.#watchers].map((stop) => stop()));
    await this.#db.close();
  }
}

function postgresProjects(db: Database, sql: Statements): ProjectStore {
  return {
    async createProject(project: Project): Promise<void> {
      try {
        await db.query(sql.insertProject, [
          project.id,
          project.name,
          project.namespace,
          JSON.stringify(project.limits),
          JSON.stringify(project.egress),
          project.createdAt,
        ]);
      } catch (error) {
        const constraint = uniqueViolation(error);
        if (constraint === 'projects_name_key') throw new ProjectNameTaken(project.name);
        if (constraint === 'projects_id_key') {
          throw new Error(`project ${project.id} already exists`, { cause: error });
        }
        throw error;
      }
    },
    async getProject(id: string): Promise<Project | null> {
      const [row] = await db.query(sql.getProject, [id]);
      return row ? toProject(row) : null;
    },
    async listProjects(): Promise<Project[]> {
      return (await db.query(sql.listProjects)).map(toProject);
    },
    async deleteProject(id: string): Promise<boolean> {
      return (await db.query(sql.deleteProject, [id])).length === 1;
    },
  };
}

/** The constraint a unique violation names, or null for any other error. */
function uniqueViolation(error: unknown): string | null {
  const fields = error as { code?: unknown; constraint?: unknown } | null;
  if (fields?.code !== UNIQUE_VIOLATION) return null;
  return typeof fields.constraint === 'string' ? fields.constraint : null;
}
