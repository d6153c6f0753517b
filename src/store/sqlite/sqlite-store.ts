import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  PRIORITIES,
  type Evaluation,
  type LogChunk,
  type Priority,
  type Project,
  type Status,
  type Transition,
} from '../../core/index.js';
import { checkClaimRequest, checkDispatch } from '../claim.js';
import { platformStagesColumn } from '../row-mapping.js';
import { mergeByAging, RunningAllowance } from '../fair-order.js';
import { fairCandidates } from './fair-candidates.js';
import {
  IdempotencyKeyTaken,
  type ClaimDecision,
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
  type TransitionWrite,
} from '../store.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { migrateDatabase } from './migrate.js';
import {
  evaluationInsertValues,
  toEvaluationRow,
  toLogChunk,
  toProject,
  toTransition,
  type Row,
} from './rows.js';
import { listQuery, SQL } from './sql.js';
import { StatementCache } from './statements.js';
import { Transactor } from './transaction.js';
import { sqliteTokens } from './tokens.js';
import { sqliteSandboxes } from './sandboxes.js';
import type { SandboxStore } from '../sandboxes.js';
import { sqliteWebhooks } from './webhooks.js';
import { sqliteBatches } from './batches.js';
import type { BatchStore } from '../batches.js';
import { sqliteQuotas } from './quotas.js';
import type { QuotaStore } from '../quotas.js';
import type { TokenStore } from '../tokens.js';
import type { UsageStore } from '../usage.js';
import { sqliteUsage } from './usage.js';
import { sqliteRetention } from './retention.js';
import type { RetentionStore } from '../retention.js';
import type { WebhookStore } from '../webhooks.js';

export interface SqliteStoreOptions {
  /** File path, or `:memory:` for a private in-memory database (tests). */
  readonly path: string;
  /** How long a write waits for another process's lock before failing; default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

/** SQLite's "UNIQUE constraint failed" extended error code. */
const SQLITE_CONSTRAINT_UNIQUE = 2067;
/** SQLite's "PRIMARY KEY constraint failed" extended error code. */
const SQLITE_CONSTRAINT_PRIMARY_KEY = 1555;

/**
 * Opens (creating if needed) a SQLite database. Call `migrate()` before anything else.
 *
 * @example
 * const store = createSqliteStore({ path: '.crucible/crucible.db' });
 * await store.migrate();
 */
export function createSqliteStore(options: SqliteStoreOptions): EvaluationStore {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db = new DatabaseSync(options.path, {
    timeout: options.busyTimeoutMs ?? 5000,
    enableForeignKeyConstraints: true,
  });
  // WAL lets readers (API, SSE) run while the scheduler writes. synchronous=NORMAL skips the fsync per
  // commit: a power loss may drop the last transactions but never corrupts the file, and it is what keeps a
  // transition write far below a millisecond. An in-memory database silently stays in `memory` mode.
  // Before any table exists (a new file): pages freed by retention can go back to the filesystem.
  db.exec('PRAGMA auto_vacuum = INCREMENTAL');
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  return new SqliteStore(db);
}

/** The methods are async only to fit the interface; each runs synchronously to completion, one at a time. */
class SqliteStore implements EvaluationStore {
  private readonly statements: StatementCache;
  private readonly transactor: Transactor;
  /**
   * Lease expiry (epoch ms) per replica. In memory: one process uses a SQLite file, so after a restart no
   * earlier owner is alive and everything active it did not renew here is an orphan.
   */
  private readonly leases = new Map<string, number>();
  private readonly urls = new Map<string, string>();
  readonly shared = false;
  readonly projects: ProjectStore;
  readonly webhooks: WebhookStore;
  readonly batches: BatchStore;
  readonly tokens: TokenStore;
  readonly quotas: QuotaStore;
  readonly usage: UsageStore;
  readonly retention: RetentionStore;
  readonly sandboxes: SandboxStore;

  constructor(private readonly db: DatabaseSync) {
    this.statements = new StatementCache(db);
    this.transactor = new Transactor(db);
    this.projects = sqliteProjects(this.statements);
    this.webhooks = sqliteWebhooks(this.statements, this.transactor);
    this.batches = sqliteBatches(this.statements, this.transactor);
    this.tokens = sqliteTokens(this.statements);
    this.quotas = sqliteQuotas(this.statements);
    this.usage = sqliteUsage(this.statements);
    this.retention = sqliteRetention(db, this.statements, this.transactor);
    this.sandboxes = sqliteSandboxes(this.statements, this.transactor);
  }

  async migrate(): Promise<void> {
    migrateDatabase(this.db);
  }

  async create(evaluation: Evaluation, idempotency?: IdempotencyKey): Promise<Transition> {
    if (evaluation.status !== 'queued') {
      throw new Error(`create() takes a queued evaluation; ${evaluation.id} is ${evaluation.status}`);
    }
    try {
      return this.transactor.run(() => {
        const inserted = this.statements.get(SQL.insertEvaluation).get(...evaluationInsertValues(evaluation));
        const rowOrder = Number(inserted?.['row_order']);
        const insertLabel = this.statements.get(SQL.insertLabel);
        for (const [key, value] of Object.entries(evaluation.labels)) insertLabel.run(key, value, rowOrder);
        if (evaluation.grading) {
          this.statements.get(SQL.setGrading).run(JSON.stringify(evaluation.grading), rowOrder);
        }
        if (idempotency) this.insertIdempotencyKey(idempotency, evaluation);
        return this.insertTransition(evaluation.id, null, 'queued', evaluation.createdAt, null);
      });
    } catch (error) {
      if (isSqliteError(error) && error.errcode === SQLITE_CONSTRAINT_UNIQUE) {
        throw new Error(`evaluation ${evaluation.id} already exists`, { cause: error });
      }
      throw error;
    }
  }

  async findIdempotent(scope: string, key: string): Promise<IdempotentSubmission | null> {
    const row = this.statements.get(SQL.findIdempotencyKey).get(scope, key);
    if (!row) return null;
    return { evaluationId: String(row['evaluation_id']), fingerprint: String(row['fingerprint']) };
  }

  private insertIdempotencyKey(idempotency: IdempotencyKey, evaluation: Evaluation): void {
    try {
      this.statements
        .get(SQL.insertIdempotencyKey)
        .run(
          idempotency.scope,
          idempotency.key,
          idempotency.fingerprint,
          evaluation.id,
          evaluation.createdAt,
        );
    } catch (error) {
      if (isSqliteError(error) && error.errcode === SQLITE_CONSTRAINT_PRIMARY_KEY) {
        throw new IdempotencyKeyTaken(idempotency);
      }
      throw error;
    }
  }

  async get(id: string): Promise<Evaluation | null> {
    const row = this.statements.get(SQL.getById).get(id);
    return row ? toEvaluationRow(row).evaluation : null;
  }

  async list(query: ListQuery): Promise<ListPage> {
    if (!Number.isInteger(query.limit) || query.limit < 1) {
      throw new RangeError(`list() limit must be a positive integer, got ${query.limit}`);
    }
    const { sql, params } = listQuery({
      status: query.status,
      label: query.label,
      project: query.project,
      user: query.user,
      before: query.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(query.cursor),
      // One extra row tells whether a next page exists, so the last page says `nextCursor: null`.
      limit: query.limit + 1,
    });
    const rows = this.statements
      .get(sql)
      .all(...params)
      .map(toEvaluationRow);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => r.evaluation),
      nextCursor: rows.length > query.limit && last ? encodeCursor(last.rowOrder) : null,
    };
  }

  async saveTransition(write: TransitionWrite): Promise<Transition | null> {
    return this.transactor.run(() => this.writeTransition(write, null));
  }

  async transitionsAfter(afterSeq: number, limit: number): Promise<Transition[]> {
    return this.statements.get(SQL.transitionsAfter).all(afterSeq, limit).map(toTransition);
  }

  async latestTransitionSeq(): Promise<number> {
    return Number(this.statements.get(SQL.latestTransitionSeq).get()?.['seq']);
  }

  async transitionsOf(evaluationId: string): Promise<Transition[]> {
    return this.statements.get(SQL.transitionsOf).all(evaluationId).map(toTransition);
  }

  async appendLogs(chunks: readonly LogChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const insert = this.statements.get(SQL.insertLog);
    this.transactor.run(() => {
      for (const c of chunks) insert.run(c.evaluationId, c.seq, c.stream, c.data, c.at);
    });
  }

  async readLogs(evaluationId: string, read: LogRead = {}): Promise<LogChunk[]> {
    const afterSeq = read.afterSeq ?? 0;
    // SQLite treats a negative LIMIT as "no limit".
    const limit = read.limit ?? -1;
    const rows: Row[] =
      read.stream === undefined
        ? this.statements.get(SQL.readLogs).all(evaluationId, afterSeq, limit)
        : this.statements.get(SQL.readLogsOfStream).all(evaluationId, afterSeq, read.stream, limit);
    return rows.map(toLogChunk);
  }

  async listByStatus(statuses: readonly Status[]): Promise<Evaluation[]> {
    if (statuses.length === 0) return [];
    // A JSON array bound as one parameter keeps a single prepared statement for any number of statuses.
    const rows = this.statements.get(SQL.listByStatus).all(JSON.stringify(statuses));
    return rows.map((row) => toEvaluationRow(row).evaluation);
  }

  async claimQueued(request: ClaimRequest): Promise<Claimed[]> {
    checkClaimRequest(request);
    return this.transactor.run(() => {
      const active = Number(this.statements.get(SQL.countActive).get()?.['n']);
      let room = Math.min(request.max, request.globalConcurrency - active);
      const allowance = this.runningAllowance(request);
      const claimed: Claimed[] = [];
      const leftQueued: number[] = [];
      while (room > 0) {
        const page = { room, skip: leftQueued, blocked: allowance.blocked() };
        const lists = fairCandidates(this.statements, page);
        let seen = 0;
        for (const { evaluation: queued, rowOrder } of mergeByAging(lists, request.agingMs)) {
          seen++;
          const claim = allowance.allows(queued.user)
            ? this.claimOne(queued, checkDispatch(queued, request.dispatch(queued)), request.owner)
            : null;
          if (claim) {
            claimed.push(claim);
            allowance.take(queued.user);
            if (--room === 0) break;
          } else {
            leftQueued.push(rowOrder);
          }
        }
        if (seen === 0) break;
      }
      return claimed;
    });
  }

  /** `maxRunning` for this claim: the active and held counts of the users with a limit. */
  private runningAllowance(request: ClaimRequest): RunningAllowance {
    const users = RunningAllowance.limitedUsers(request.maxRunning);
    const active = new Map<string, number>();
    if (users.length > 0) {
      for (const row of this.statements.get(SQL.activeByUser).all(JSON.stringify(users))) {
        active.set(String(row['user_name']), Number(row['n']));
      }
    }
    return new RunningAllowance(request.maxRunning, active);
  }

  async queueCounts(): Promise<QueueCounts> {
    const queued = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    let active = 0;
    let awaitingAdmission = 0;
    for (const row of this.statements.get(SQL.queueCounts).all()) {
      const count = Number(row['n']);
      if (row['status'] !== 'queued') active += count;
      else {
        queued[row['priority'] as Priority] += count;
        if (Number(row['held']) === 1) awaitingAdmission += count;
      }
    }
    return { queued, active, awaitingAdmission };
  }

  async renewLease(replica: string, ttlMs: number): Promise<void> {
    this.leases.set(replica, Date.now() + ttlMs);
  }

  async dropLease(replica: string): Promise<void> {
    this.leases.delete(replica);
  }

  async advertiseReplica(replica: string, url: string): Promise<void> {
    this.urls.set(replica, url);
  }

  async liveReplica(replica: string): Promise<{ url: string | null } | null> {
    const expiresAt = this.leases.get(replica);
    return expiresAt !== undefined && expiresAt > Date.now() ? { url: this.urls.get(replica) ?? null } : null;
  }

  async listOrphans(): Promise<OwnedEvaluation[]> {
    const now = Date.now();
    const live = [...this.leases].filter(([, expiresAt]) => expiresAt > now).map(([replica]) => replica);
    return this.statements
      .get(SQL.listOrphans)
      .all(JSON.stringify(live))
      .map((row) => {
        const { evaluation, owner } = toEvaluationRow(row);
        return { evaluation, owner };
      });
  }

  async listOwned(owner: string, statuses: readonly Status[]): Promise<Evaluation[]> {
    if (statuses.length === 0) return [];
    const rows = this.statements.get(SQL.listOwned).all(owner, JSON.stringify(statuses));
    return rows.map((row) => toEvaluationRow(row).evaluation);
  }

  async transferOwnership(evaluationId: string, from: string | null, to: string): Promise<boolean> {
    return Number(this.statements.get(SQL.transferOwnership).run(to, evaluationId, from).changes) === 1;
  }

  async close(): Promise<void> {
    if (!this.db.isOpen) return;
    this.statements.clear();
    this.db.close();
  }

  /**
   * One claim decision, inside the claiming IMMEDIATE transaction (nobody else writes, so neither write can
   * lose here): null when the row is left queued and unowned.
   */
  private claimOne(queued: Evaluation, decision: ClaimDecision, owner: string): Claimed | null {
    if (decision === null) return null;
    if (decision === 'hold') {
      const changed = this.statements.get(SQL.holdQueued).run(owner, queued.id);
      return Number(changed.changes) === 1 ? { evaluation: queued, transition: null } : null;
    }
    const transition = this.writeTransition(decision, owner);
    return transition ? { evaluation: decision.evaluation, transition } : null;
  }

  /**
   * The compare-and-set write of `saveTransition` and of each claim, inside the caller's transaction: moves the
   * row only if its status is still `write.from`, and records the transition. `owner` (claims only) is stored
   * with it; null keeps the stored owner.
   */
  private writeTransition(write: TransitionWrite, owner: string | null): Transition | null {
    const e = write.evaluation;
    if (e.status !== write.to) {
      throw new Error(
        `saveTransition(): evaluation.status is ${e.status} but the transition goes to ${write.to}`,
      );
    }
    const changed = this.statements
      .get(SQL.casUpdate)
      .run(
        write.to,
        e.runtime,
        e.timings.dispatchedAt,
        e.timings.startedAt,
        e.timings.finishedAt,
        e.timings.storedAt,
        e.result === null ? null : JSON.stringify(e.result),
        platformStagesColumn(e.timings),
        owner,
        e.id,
        write.from,
      );
    // Lost the race (or no such evaluation): nothing written, and an empty transaction commits for free.
    if (Number(changed.changes) === 0) return null;
    return this.insertTransition(e.id, write.from, write.to, write.at, write.reason);
  }

  private insertTransition(
    evaluationId: string,
    from: Status | null,
    to: Status,
    at: string,
    reason: Transition['reason'],
  ): Transition {
    const row = this.statements.get(SQL.insertTransition).get(evaluationId, from, to, at, reason);
    return { seq: Number(row?.['seq']), evaluationId, from, to, at, reason };
  }
}

function sqliteProjects(statements: StatementCache): ProjectStore {
  return {
    async createProject(project: Project): Promise<void> {
      try {
        statements
          .get(SQL.insertProject)
          .run(
            project.id,
            project.name,
            project.namespace,
            JSON.stringify(project.limits),
            JSON.stringify(project.egress),
            project.createdAt,
          );
      } catch (error) {
        if (isSqliteError(error) && error.errcode === SQLITE_CONSTRAINT_UNIQUE) {
          if (/projects\.name/.test(error.message)) throw new ProjectNameTaken(project.name);
          throw new Error(`project ${project.id} already exists`, { cause: error });
        }
        throw error;
      }
    },
    async getProject(id: string): Promise<Project | null> {
      const row = statements.get(SQL.getProject).get(id);
      return row ? toProject(row) : null;
    },
    async listProjects(): Promise<Project[]> {
      return statements.get(SQL.listProjects).all().map(toProject);
    },
    async deleteProject(id: string): Promise<boolean> {
      return Number(statements.get(SQL.deleteProject).run(id).changes) === 1;
    },
  };
}

function isSqliteError(error: unknown): error is Error & { errcode: number } {
  return error instanceof Error && typeof (error as { errcode?: unknown }).errcode === 'number';
}
