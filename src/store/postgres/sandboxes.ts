import type { Database } from './database.js';
import type { SchemaNames } from './sql.js';
import {
  EXEC_COLUMNS,
  SANDBOX_COLUMNS,
  execValues,
  patchAssignments,
  sandboxValues,
  toExec,
  toExecChunk,
  toSandbox,
} from '../sandbox-rows.js';
import type { SandboxStore } from '../sandboxes.js';

const marks = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`).join(', ');

function statements(names: SchemaNames) {
  const s = `${names.quoted}.sandboxes`;
  const k = `${names.quoted}.sandbox_idempotency_keys`;
  const e = `${names.quoted}.sandbox_execs`;
  const l = `${names.quoted}.sandbox_exec_logs`;
  return {
    sandboxes: s,
    insert: `INSERT INTO ${s} (${SANDBOX_COLUMNS}) VALUES (${marks(20)})`,
    get: `SELECT ${SANDBOX_COLUMNS} FROM ${s} WHERE id = $1`,
    claimKey: `INSERT INTO ${k} (scope, key, fingerprint, target_id, created_at) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT DO NOTHING RETURNING target_id`,
    getKey: `SELECT fingerprint, target_id FROM ${k} WHERE scope = $1 AND key = $2`,
    releaseKey: `DELETE FROM ${k} WHERE scope = $1 AND key = $2`,
    insertExec: `INSERT INTO ${e} (${EXEC_COLUMNS}) VALUES (${marks(7)})`,
    getExec: `SELECT ${EXEC_COLUMNS} FROM ${e} WHERE id = $1`,
    listExecs: `SELECT ${EXEC_COLUMNS} FROM ${e} WHERE sandbox_id = $1 ORDER BY row_order DESC LIMIT $2`,
    finishExec: `UPDATE ${e} SET status = $1, exit = $2, finished_at = $3 WHERE id = $4 AND status = 'running'`,
    loseExecs: `UPDATE ${e} SET status = 'lost', finished_at = $1 WHERE status = 'running' RETURNING id`,
    loseSandboxExecs: `UPDATE ${e} SET status = 'lost', finished_at = $1 WHERE status = 'running' AND sandbox_id = $2 RETURNING id`,
    appendLogs: `INSERT INTO ${l} (exec_id, seq, stream, data)
      SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::bytea[]) ON CONFLICT DO NOTHING`,
    readLogs: `SELECT exec_id, seq, stream, data FROM ${l} WHERE exec_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
  };
}

/** Interactive sandboxes on PostgreSQL (migrations 10 and 11), shared by every replica on the schema. */
export function postgresSandboxes(db: Database, names: SchemaNames): SandboxStore {
  const sql = statements(names);
  return {
    async insertSandbox(sandbox) {
      await db.query(sql.insert, sandboxValues(sandbox));
    },
    async getSandbox(id) {
      const [row] = await db.query(sql.get, [id]);
      return row ? toSandbox(row) : null;
    },
    async listSandboxes(query) {
      const where: string[] = [];
      const values: unknown[] = [];
      if (query.user !== undefined) {
        values.push(query.user);
        where.push(`user_name = $${values.length}`);
      }
      if (query.status !== undefined) {
        values.push(query.status);
        where.push(`status = $${values.length}`);
      }
      values.push(query.limit);
      const text = `SELECT ${SANDBOX_COLUMNS} FROM ${sql.sandboxes} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY row_order DESC LIMIT $${values.length}`;
      return (await db.query(text, values)).map(toSandbox);
    },
    async updateSandbox(id, from, patch, owner) {
      const { sets, values } = patchAssignments(patch, (i) => `$${i}`);
      if (sets.length === 0) return this.getSandbox(id);
      const byOwner = owner === undefined ? '' : ` AND owner IS NOT DISTINCT FROM $${values.length + 3}`;
      const text = `UPDATE ${sql.sandboxes} SET ${sets.join(', ')} WHERE id = $${values.length + 1} AND status = ANY($${values.length + 2}::text[])${byOwner} RETURNING ${SANDBOX_COLUMNS}`;
      const [row] = await db.query(text, [...values, id, [...from], ...(owner === undefined ? [] : [owner])]);
      return row ? toSandbox(row) : null;
    },
    async countSandboxes(user, statuses) {
      const text = `SELECT count(*)::integer AS n FROM ${sql.sandboxes} WHERE user_name = $1 AND status = ANY($2::text[])`;
      const [row] = await db.query(text, [user, [...statuses]]);
      return Number(row?.['n'] ?? 0);
    },
    async claimKey(scope, key, fingerprint, targetId) {
      const inserted = await db.query(sql.claimKey, [
        scope,
        key,
        fingerprint,
        targetId,
        new Date().toISOString(),
      ]);
      if (inserted.length === 1) return null;
      // A statement of its own: it sees the winner's row even when that committed while the insert waited.
      const [row] = await db.query(sql.getKey, [scope, key]);
      return row ? { fingerprint: String(row['fingerprint']), targetId: String(row['target_id']) } : null;
    },
    async releaseKey(scope, key) {
      await db.query(sql.releaseKey, [scope, key]);
    },
    async insertExec(exec) {
      await db.query(sql.insertExec, execValues(exec));
    },
    async getExec(id) {
      const [row] = await db.query(sql.getExec, [id]);
      return row ? toExec(row) : null;
    },
    async listExecs(sandboxId, limit) {
      return (await db.query(sql.listExecs, [sandboxId, limit])).map(toExec);
    },
    async finishExec(id, status, exit, at) {
      await db.query(sql.finishExec, [status, exit ? JSON.stringify(exit) : null, at, id]);
    },
    async loseRunningExecs(at, sandboxId) {
      if (sandboxId !== undefined) return (await db.query(sql.loseSandboxExecs, [at, sandboxId])).length;
      return (await db.query(sql.loseExecs, [at])).length;
    },
    async appendExecLogs(chunks) {
      if (chunks.length === 0) return;
      await db.query(sql.appendLogs, [
        chunks.map((c) => c.execId),
        chunks.map((c) => c.seq),
        chunks.map((c) => c.stream),
        chunks.map((c) => c.data),
      ]);
    },
    async readExecLogs(execId, afterSeq, limit) {
      return (await db.query(sql.readLogs, [execId, afterSeq, limit])).map(toExecChunk);
    },
  };
}
