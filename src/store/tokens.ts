/**
 * API tokens, in the same database as the evaluations (conformance: `test/store/conformance-tokens.ts`).
 *
 * The store never sees a token: only its SHA-256 (`secretHash`, hex), computed by the service. A token is
 * 256 random bits, so its hash cannot be reversed or guessed; see docs/auth.md for why no slow KDF or key.
 */

/** What a token grants, without its secret: what `GET /v1/tokens` lists. */
export interface TokenRecord {
  /** A public handle (`tok_…`), for listing and revoking; not a secret. */
  readonly id: string;
  /** The user the token authenticates as; several tokens may name one user. */
  readonly user: string;
  readonly admin: boolean;
  /** Quotas (contract "Users and tokens"); null means none. Stored and answered here, enforced elsewhere. */
  readonly maxRunning: number | null;
  readonly maxQueued: number | null;
  readonly ratePerMinute: number | null;
  readonly createdAt: string;
}

/** A stored token found by its hash, with the hash it was stored under (for the constant-time compare). */
export interface StoredToken extends TokenRecord {
  readonly secretHash: string;
}

/** Thrown by `createToken` when the id or the hash is taken (nothing is written). */
export class TokenTaken extends Error {
  constructor(id: string) {
    super(`a token with id "${id}" or the same secret already exists`);
    this.name = 'TokenTaken';
  }
}

export interface TokenStore {
  /** @throws TokenTaken when the id or the hash exists already */
  createToken(token: TokenRecord, secretHash: string): Promise<void>;
  /** The token stored under this hash, or null (unknown or revoked). */
  findTokenByHash(secretHash: string): Promise<StoredToken | null>;
  /** Oldest first. */
  listTokens(): Promise<TokenRecord[]>;
  /** True when it existed: the token stops authenticating at once, on every replica. */
  deleteToken(id: string): Promise<boolean>;
  /** How many tokens are stored (start-up: is there any way to authenticate). */
  countTokens(): Promise<number>;
}
