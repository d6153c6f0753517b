import { CrucibleError, type Evaluation } from '../core/index.js';
import type { TokenRecord } from '../store/store.js';

/**
 * Who is calling the service: every way in passes one (the API from the request's token), and the service
 * decides from it what the call may see and do. See docs/auth.md.
 */
export interface Caller {
  /** The authenticated user; null when authentication is off (or for the server's own ways in). */
  readonly user: string | null;
  /** Sees and may do everything: admin tokens, and everyone while authentication is off. */
  readonly admin: boolean;
  /**
   * Where this caller's Idempotency-Keys live (keys of different scopes never collide): `user:<name>` when
   * authenticated, the client address while authentication is off, a fixed name for internal ways in.
   */
  readonly scope: string;
  /** The token it authenticated with (its quotas); null when none was needed. */
  readonly token: TokenRecord | null;
}

/** The server's own ways in (the CRD controller, project clean-up) and calls made without a caller. */
export const SYSTEM_CALLER: Caller = { user: null, admin: true, scope: 'anonymous', token: null };

/** A client while authentication is off: anyone may do anything, as before users existed. */
export function anonymousCaller(address: string): Caller {
  return { user: null, admin: true, scope: address, token: null };
}

/** The caller a token authenticates. */
export function tokenCaller(token: TokenRecord): Caller {
  return { user: token.user, admin: token.admin, scope: `user:${token.user}`, token };
}

/** Whether the caller may see this evaluation: their own, or any for admins. */
export function canSee(caller: Caller, evaluation: Pick<Evaluation, 'user'>): boolean {
  return caller.admin || (caller.user !== null && evaluation.user === caller.user);
}

/** @throws CrucibleError `forbidden` unless the caller is an admin */
export function requireAdmin(caller: Caller, what: string): void {
  if (!caller.admin) throw new CrucibleError('forbidden', `${what} needs an admin token`, null);
}

/** The one answer for a missing evaluation and for another user's: its existence is not revealed. */
export function evaluationNotFound(id: string): CrucibleError {
  return new CrucibleError('not_found', `no evaluation with id "${id}"`, 'id');
}
