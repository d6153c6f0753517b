import { isActive, type Evaluation } from '../core/index.js';
import type { ClaimDecision, ClaimRequest, TransitionWrite } from './store.js';

/**
 * Rules every adapter's `claimQueued` shares, so SQLite and PostgreSQL refuse the same mistakes the same way.
 *
 * @throws RangeError on a count or interval that is not a non-negative integer
 */
export function checkClaimRequest(request: ClaimRequest): void {
  for (const [name, value] of [
    ['max', request.max],
    ['globalConcurrency', request.globalConcurrency],
    ['agingMs', request.agingMs],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`claimQueued() ${name} must be a non-negative integer, got ${value}`);
    }
  }
  if (request.owner === '') throw new RangeError('claimQueued() needs an owner');
  for (const [user, limit] of Object.entries(request.maxRunning ?? {})) {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(
        `claimQueued() maxRunning of ${user} must be a non-negative integer, got ${limit}`,
      );
    }
  }
}

/**
 * What `dispatch` returned for a queued evaluation: `hold` or null as they are, or a transition, which must
 * move that evaluation from `queued` to an active status: anything else would be counted against the global
 * limit wrongly, or write another row.
 *
 * @throws Error on a write that is not a dispatch of `queued` (the claiming transaction rolls back)
 */
export function checkDispatch(queued: Evaluation, decision: ClaimDecision): ClaimDecision {
  if (decision === null || decision === 'hold') return decision;
  const write: TransitionWrite = decision;
  if (write.evaluation.id !== queued.id || write.from !== 'queued' || !isActive(write.to)) {
    throw new Error(
      `claimQueued(): dispatch(${queued.id}) must return a transition of that evaluation from queued to ` +
        `starting or running, got ${write.evaluation.id} ${write.from} → ${write.to}`,
    );
  }
  return write;
}

/** `submittedAt` as the epoch milliseconds the queue order is computed from (as the in-memory scheduler does). */
export function submittedMs(evaluation: Evaluation): number {
  const ms = Date.parse(evaluation.timings.submittedAt);
  if (!Number.isFinite(ms)) {
    throw new Error(
      `evaluation ${evaluation.id} has an unreadable submittedAt "${evaluation.timings.submittedAt}"`,
    );
  }
  return ms;
}
