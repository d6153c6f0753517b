import type { Evaluation, Transition } from '../../core/index.js';
import { submittedMs } from '../claim.js';
import { platformStagesColumn } from '../row-mapping.js';
import type { IdempotencyKey, TransitionWrite } from '../store.js';
import type { Queryable } from './database.js';
import type { SchemaNames } from './sql.js';

/*
 * Transition seqs in commit order.
 *
 * A PostgreSQL sequence hands out numbers at insert time, but transactions commit in any order: a reader could
 * see seq 6 committed, move its cursor past it, and miss seq 5 committing a moment later — an SSE client
 * resuming with `Last-Event-ID: 6` would never get it. So seqs come from `transition_counter`, a one-row table
 * that every transaction inserting transitions advances (`UPDATE … RETURNING`) in its LAST statement before
 * COMMIT. The row lock is held until commit, so the next writer's UPDATE waits for it and then reads the
 * committed value: seqs are handed out in commit order, and seq N is visible only once every smaller seq is.
 * PostgreSQL makes a transaction visible before it releases its locks, so a waiter that gets the row sees the
 * previous holder's rows. The cost is that these transactions serialize for one statement and the commit; the
 * statement is the last one, so the lock is held for well under a millisecond plus the commit itself.
 *
 * Each of these writes is one statement: alone it is its own transaction (one round trip), or it is the last
 * statement of a claim. The same statement does `pg_notify`: NOTIFY is delivered at commit, in commit order, to every listener.
 * Its payload carries the transitions themselves and the writing store's tag (see `transitionPayloadSql`), so
 * other replicas publish them without reading them back; one too long for NOTIFY (8000 bytes) is sent empty,
 * which only wakes the listeners to read the store.
 *
 * Lock order (no deadlocks): evaluation rows first (the compare-and-set UPDATE, or a claim's FOR NO KEY
 * UPDATE), the counter last; nobody holding the counter waits for anything but its own commit.
 */

/** NOTIFY payloads above this many bytes are sent empty (PostgreSQL refuses 8000 and more). */
export const MAX_NOTIFY_PAYLOAD = 7900;

/**
 * `{"w": writer tag, "c": commit ms, "t": [[seq, evaluationId, from, to, at, reason], …]}` of `rows` (a relation with the
 * transitions' columns), or '' when too long: the NOTIFY payload `parseTransitionPayload` reads.
 */
function transitionPayloadSql(rows: string, writerParam: string): string {
  const agg =
    'json_agg(json_build_array(seq, evaluation_id, from_status, to_status, at, reason) ORDER BY seq)::text';
  // "c": the database's clock as the statement ends, just before COMMIT: what listeners time their lag from.
  const committed = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text`;
  const payload = `'{"w":' || to_json(${writerParam}::text)::text || ',"c":' || ${committed} || ',"t":' || ${agg} || '}'`;
  return `SELECT CASE WHEN octet_length(p) <= ${MAX_NOTIFY_PAYLOAD} THEN p ELSE '' END AS payload
  FROM (SELECT ${payload} AS p FROM ${rows}) x WHERE p IS NOT NULL`;
}

/**
 * The compare-and-set UPDATE of every write and the transitions of those that won, in one statement. The
 * counter's WHERE counts every moved row, so all evaluation rows are updated (and their locks taken) before
 * the counter row is locked; a write that lost takes no counter lock at all.
 */
function casSql(names: SchemaNames): string {
  const t = (table: string) => `${names.quoted}.${table}`;
  return `WITH w AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $15::text[])
    WITH ORDINALITY AS w(id, from_status, to_status, runtime, dispatched_at, started_at, finished_at,
                         stored_at, result, at, reason, platform_stages, n)
), moved AS (
  UPDATE ${t('evaluations')} e SET status = w.to_status, runtime = w.runtime, dispatched_at = w.dispatched_at,
    started_at = w.started_at, finished_at = w.finished_at, stored_at = w.stored_at, result = w.result::json,
    platform_stages = w.platform_stages::json, owner = COALESCE($12::text, e.owner)
  FROM w WHERE e.id = w.id AND e.status = w.from_status
  RETURNING w.n
), numbered AS (
  SELECT n, row_number() OVER (ORDER BY n) AS k, count(*) OVER () AS total FROM moved
), counter AS (
  UPDATE ${t('transition_counter')} SET last_seq = last_seq + (SELECT count(*) FROM moved)
  WHERE (SELECT count(*) FROM moved) > 0
  RETURNING last_seq
), inserted AS (
  INSERT INTO ${t('transitions')} (seq, evaluation_id, from_status, to_status, at, reason)
  SELECT c.last_seq - nb.total + nb.k, w.id, w.from_status, w.to_status, w.at, w.reason
  FROM counter c CROSS JOIN numbered nb JOIN w ON w.n = nb.n
  RETURNING seq, evaluation_id, from_status, to_status, at, reason
), note AS (
  SELECT pg_notify($13, payload) AS notified FROM (${transitionPayloadSql('inserted', '$14')}) np
)
SELECT nb.n::integer AS n, (c.last_seq - nb.total + nb.k)::text AS seq, (SELECT notified FROM note) AS notified
FROM counter c CROSS JOIN numbered nb`;
}

/**
 * A new evaluation with its labels, idempotency key and `queued` transition, as one statement (one round trip,
 * atomic on its own). The counter's WHERE reads the other inserts, so they run first: a unique violation, or a
 * wait for another submission holding the same idempotency key, happens before the counter row is locked.
 */
function createSql(names: SchemaNames): string {
  const t = (table: string) => `${names.quoted}.${table}`;
  return `WITH ev AS (
  INSERT INTO ${t('evaluations')} (id, status, language, code, stdin, priority, labels, limits, runtime,
    created_at, submitted_at, submitted_ms, dispatched_at, started_at, finished_at, stored_at, result, project,
    user_name, grading)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $24, $26, $27::jsonb)
  RETURNING row_order, id
), labels AS (
  INSERT INTO ${t('evaluation_labels')} (key, value, row_order)
  SELECT l.key, l.value, ev.row_order FROM ev CROSS JOIN unnest($18::text[], $19::text[]) AS l(key, value)
  RETURNING 1
), idem AS (
  INSERT INTO ${t('idempotency_keys')} (scope, key, fingerprint, evaluation_id, created_at)
  SELECT $20, $21, $22, ev.id, $10 FROM ev WHERE $20::text IS NOT NULL
  RETURNING 1
), counter AS (
  UPDATE ${t('transition_counter')} SET last_seq = last_seq + 1
  WHERE (SELECT count(*) FROM ev) + (SELECT count(*) FROM labels) + (SELECT count(*) FROM idem) > 0
  RETURNING last_seq
), inserted AS (
  INSERT INTO ${t('transitions')} (seq, evaluation_id, from_status, to_status, at, reason)
  SELECT c.last_seq, ev.id, NULL, 'queued', $10, NULL FROM counter c CROSS JOIN ev
  RETURNING seq, evaluation_id, from_status, to_status, at, reason
), note AS (
  SELECT pg_notify($23, payload) AS notified FROM (${transitionPayloadSql('inserted', '$25')}) np
)
SELECT c.last_seq::text AS seq, (SELECT notified FROM note) AS notified FROM counter c`;
}

/** Writes transitions for one schema; every path that inserts transitions goes through here. */
export class TransitionWriter {
  readonly #cas: string;
  readonly #create: string;

  /** @param writerTag names this store in NOTIFY payloads, so its own watcher knows its own writes */
  constructor(
    private readonly names: SchemaNames,
    private readonly writerTag: string,
  ) {
    this.#cas = casSql(names);
    this.#create = createSql(names);
  }

  /** Inserts a new (queued) evaluation and its first transition. */
  async create(
    db: Queryable,
    evaluation: Evaluation,
    idempotency: IdempotencyKey | undefined,
  ): Promise<Transition> {
    const t = evaluation.timings;
    const labels = Object.entries(evaluation.labels);
    const [row] = await db.query<{ seq: string }>(this.#create, [
      evaluation.id,
      evaluation.status,
      evaluation.language,
      evaluation.code,
      Buffer.from(evaluation.stdin, 'utf8'),
      evaluation.priority,
      JSON.stringify(evaluation.labels),
      JSON.stringify(evaluation.limits),
      evaluation.runtime,
      evaluation.createdAt,
      t.submittedAt,
      submittedMs(evaluation),
      t.dispatchedAt,
      t.startedAt,
      t.finishedAt,
      t.storedAt,
      evaluation.result === null ? null : JSON.stringify(evaluation.result),
      labels.map(([key]) => key),
      labels.map(([, value]) => value),
      idempotency?.scope ?? null,
      idempotency?.key ?? null,
      idempotency?.fingerprint ?? null,
      this.names.channel,
      evaluation.project ?? null,
      this.writerTag,
      evaluation.user ?? null,
      evaluation.grading ? JSON.stringify(evaluation.grading) : null,
    ]);
    const at = evaluation.createdAt;
    return { seq: Number(row!.seq), evaluationId: evaluation.id, from: null, to: 'queued', at, reason: null };
  }

  /**
   * Compare-and-set of each write (the row moves only if its status is still `from`) and the transitions of
   * those that won, numbered in the order given. Returns one entry per write: its transition, or null when it
   * lost the race. `owner` (claims) is stored on the moved rows; null keeps the stored owner. As one
   * statement it can run alone (autocommit) or as the last statement of a transaction.
   */
  async compareAndSet(
    tx: Queryable,
    writes: readonly TransitionWrite[],
    owner: string | null,
  ): Promise<(Transition | null)[]> {
    if (writes.length === 0) return [];
    for (const write of writes) {
      if (write.evaluation.status !== write.to) {
        throw new Error(
          `saveTransition(): evaluation.status is ${write.evaluation.status} but the transition goes to ${write.to}`,
        );
      }
    }
    const column = <T>(pick: (write: TransitionWrite) => T) => writes.map(pick);
    const rows = await tx.query<{ n: number; seq: string }>(this.#cas, [
      column((w) => w.evaluation.id),
      column((w) => w.from),
      column((w) => w.to),
      column((w) => w.evaluation.runtime),
      column((w) => w.evaluation.timings.dispatchedAt),
      column((w) => w.evaluation.timings.startedAt),
      column((w) => w.evaluation.timings.finishedAt),
      column((w) => w.evaluation.timings.storedAt),
      column((w) => (w.evaluation.result === null ? null : JSON.stringify(w.evaluation.result))),
      column((w) => w.at),
      column((w) => w.reason),
      owner,
      this.names.channel,
      this.writerTag,
      column((w) => platformStagesColumn(w.evaluation.timings)),
    ]);
    const seqByIndex = new Map(rows.map((row) => [row.n - 1, Number(row.seq)]));
    return writes.map((write, index) => {
      const seq = seqByIndex.get(index);
      if (seq === undefined) return null;
      const { from, to, at, reason } = write;
      return { seq, evaluationId: write.evaluation.id, from, to, at, reason };
    });
  }
}

/** The transitions of a NOTIFY payload and whether `writerTag` wrote them; null for a payload of another kind. */
export function parseTransitionPayload(
  payload: string,
  writerTag: string,
): { transitions: Transition[]; local: boolean; committedAt: number } | null {
  if (!payload.startsWith('{')) return null;
  const { w, c, t } = JSON.parse(payload) as { w: string; c: number; t: TransitionCells[] };
  const transitions = t.map(([seq, evaluationId, from, to, at, reason]) => ({
    seq: Number(seq),
    evaluationId,
    from,
    to,
    at,
    reason,
  }));
  return { transitions, local: w === writerTag, committedAt: c };
}

type TransitionCells = [
  number | string,
  string,
  Transition['from'],
  Transition['to'],
  string,
  Transition['reason'],
];
