import type { StatementCache } from './statements.js';
import type { Transactor } from './transaction.js';
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

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

const SQL = {
  insert: `INSERT INTO sandboxes (${SANDBOX_COLUMNS}) VALUES (${marks(20)})`,
  get: `SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE id = ?`,
  claimKey:
    'INSERT INTO sandbox_idempotency_keys (scope, key, fingerprint, target_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  getKey: 'SELECT fingerprint, target_id FROM sandbox_idempotency_keys WHERE scope = ? AND key = ?',
  releaseKey: 'DELETE FROM sandbox_idempotency_keys WHERE scope = ? AND key = ?',
  insertExec: `INSERT INTO sandbox_execs (${EXEC_COLUMNS}) VALUES (${marks(7)})`,
  getExec: `SELECT ${EXEC_COLUMNS} FROM sandbox_execs WHERE id = ?`,
  listExecs: `SELECT ${EXEC_COLUMNS} FROM sandbox_execs WHERE sandbox_id = ? ORDER BY row_order DESC LIMIT ?`,
  finishExec:
    "UPDATE sandbox_execs SET status = ?, exit = ?, finished_at = ? WHERE id = ? AND status = 'running'",
  loseExecs: "UPDATE sandbox_execs SET status = 'lost', finished_at = ? WHERE status = 'running'",
  loseSandboxExecs:
    "UPDATE sandbox_execs SET status = 'lost', finished_at = ? WHERE status = 'running' AND sandbox_id = ?",
  appendLog: 'INSERT OR IGNORE INTO sandbox_exec_logs (exec_id, seq, stream, data) VALUES (?, ?, ?, ?)',
  readLogs:
    'SELECT exec_id, seq, stream, data FROM sandbox_exec_logs WHERE exec_id = ? AND seq > ? ORDER BY seq LIMIT ?',
} as const;

/** Interactive sandboxes on SQLite (migrations 12 and 13). */
export function sqliteSandboxes(statements: StatementCache, transactor: Transactor): SandboxStore {
  return {
    async insertSandbox(sandbox) {
      statements.get(SQL.insert).run(...(sandboxValues(sandbox) as never[]));
    },
    async getSandbox(id) {
      const row = statements.get(SQL.get).get(id);
      return row ? toSandbox(row) : null;
    },
    async listSandboxes(query) {
      const where: string[] = [];
      const values: (string | number)[] = [];
      if (query.user !== undefined) {
        where.push('user_name = ?');
        values.push(query.user);
      }
      if (query.status !== undefined) {
        where.push('status = ?');
        values.push(query.status);
      }
      const sql = `SELECT ${SANDBOX_COLUMNS} FROM sandboxes ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY row_order DESC LIMIT ?`;
      return statements
        .get(sql)
        .all(...values, query.limit)
        .map(toSandbox);
    },
    async updateSandbox(id, from, patch, owner) {
      const { sets, values } = patchAssignments(patch, () => '?');
      if (sets.length === 0) return this.getSandbox(id);
      const byOwner = owner === undefined ? '' : ' AND owner IS ?';
      const sql = `UPDATE sandboxes SET ${sets.join(', ')} WHERE id = ? AND status IN (${marks(from.length)})${byOwner} RETURNING ${SANDBOX_COLUMNS}`;
      const ownerValue = owner === undefined ? [] : [owner];
      const row = statements.get(sql).get(...(values as never[]), id, ...from, ...(ownerValue as never[]));
      return row ? toSandbox(row) : null;
    },
    async countSandboxes(user, statuses) {
      const sql = `SELECT COUNT(*) AS n FROM sandboxes WHERE user_name = ? AND status IN (${marks(statuses.length)})`;
      return Number(statements.get(sql).get(user, ...statuses)?.['n'] ?? 0);
    },
    async claimKey(scope, key, fingerprint, targetId) {
      return transactor.run(() => {
        const inserted = statements
          .get(SQL.claimKey)
          .run(scope, key, fingerprint, targetId, new Date().toISOString());
        if (Number(inserted.changes) === 1) return null;
        const row = statements.get(SQL.getKey).get(scope, key);
        return row ? { fingerprint: String(row['fingerprint']), targetId: String(row['target_id']) } : null;
      });
    },
    async releaseKey(scope, key) {
      statements.get(SQL.releaseKey).run(scope, key);
    },
    async insertExec(exec) {
      statements.get(SQL.insertExec).run(...(execValues(exec) as never[]));
    },
    async getExec(id) {
      const row = statements.get(SQL.getExec).get(id);
      return row ? toExec(row) : null;
    },
    async listExecs(sandboxId, limit) {
      return statements.get(SQL.listExecs).all(sandboxId, limit).map(toExec);
    },
    async finishExec(id, status, exit, at) {
      statements.get(SQL.finishExec).run(status, exit ? JSON.stringify(exit) : null, at, id);
    },
    async loseRunningExecs(at, sandboxId) {
      if (sandboxId !== undefined)
        return Number(statements.get(SQL.loseSandboxExecs).run(at, sandboxId).changes);
      return Number(statements.get(SQL.loseExecs).run(at).changes);
    },
    async appendExecLogs(chunks) {
      if (chunks.length === 0) return;
      transactor.run(() => {
        const insert = statements.get(SQL.appendLog);
        for (const c of chunks) insert.run(c.execId, c.seq, c.stream, c.data);
      });
    },
    async readExecLogs(execId, afterSeq, limit) {
      return statements.get(SQL.readLogs).all(execId, afterSeq, limit).map(toExecChunk);
    },
  };
}
