import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CrucibleError } from '../core/index.js';
import { TokenTaken, type TokenRecord, type TokenStore } from '../store/store.js';
import { requireAdmin, tokenCaller, type Caller } from './caller.js';

/** Every token this server makes starts so: easy to spot in a config file, a log or a secret scanner. */
export const TOKEN_PREFIX = 'cru_';

/** The user the bootstrap admin token (`CRUCIBLE_ADMIN_TOKEN`) authenticates as. */
export const BOOTSTRAP_USER = 'admin';
/** Its id in `GET /v1/tokens` terms; it is not stored, so it cannot be listed or revoked (unset the variable). */
export const BOOTSTRAP_TOKEN_ID = 'bootstrap';

/** A new secret: 256 random bits, base64url, after the prefix. */
export function newTokenSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * What the store keeps of a token: its SHA-256, hex. A token is 256 random bits, so the hash can neither be
 * reversed nor brute-forced, and a slow KDF (made for low-entropy passwords) would only slow every request
 * down; a server key (HMAC) would have to live beside the hashes, in the shared store, to work across
 * replicas, adding nothing. docs/auth.md says more.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Equal digests, compared in constant time (a digest always has the same length). */
function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface NewToken {
  readonly user: string;
  readonly admin?: boolean;
  readonly maxRunning?: number | null;
  readonly maxQueued?: number | null;
  readonly ratePerMinute?: number | null;
}

/** A token just made: the only time its secret is shown. */
export interface CreatedToken extends TokenRecord {
  readonly token: string;
}

export interface TokenServiceOptions {
  /** Absent: only the bootstrap token authenticates and none can be made. */
  readonly store: TokenStore | undefined;
  /** `CRUCIBLE_ADMIN_TOKEN`: an admin token that is not stored. */
  readonly adminToken?: string | undefined;
  readonly now?: () => Date;
}

/** Tokens: authenticate a bearer token, and (admins) create, list and revoke them. */
export class TokenService {
  readonly #store: TokenStore | undefined;
  readonly #adminDigest: Buffer | null;
  readonly #now: () => Date;

  constructor(options: TokenServiceOptions) {
    this.#store = options.store;
    this.#adminDigest = options.adminToken ? Buffer.from(hashToken(options.adminToken), 'hex') : null;
    this.#now = options.now ?? (() => new Date());
  }

  /** Whether anyone can authenticate at all: a bootstrap token is set or a token is stored. */
  async canAuthenticate(): Promise<boolean> {
    if (this.#adminDigest) return true;
    return ((await this.#store?.countTokens()) ?? 0) > 0;
  }

  /**
   * The caller a bearer token authenticates, or null for an unknown (or revoked) one. One indexed look-up
   * per request, no cache: a revoke holds at once on every replica.
   */
  async authenticate(bearer: string): Promise<Caller | null> {
    const digest = Buffer.from(hashToken(bearer), 'hex');
    if (this.#adminDigest && sameDigest(digest, this.#adminDigest)) {
      return tokenCaller(this.#bootstrapRecord());
    }
    if (!this.#store || !bearer.startsWith(TOKEN_PREFIX)) return null;
    const found = await this.#store.findTokenByHash(digest.toString('hex'));
    // The index found it by the digest; comparing again in constant time costs nothing and keeps the
    // decision itself free of early exits.
    if (!found || !sameDigest(digest, Buffer.from(found.secretHash, 'hex'))) return null;
    const { secretHash: _hash, ...record } = found;
    return tokenCaller(record);
  }

  async create(input: NewToken, caller: Caller): Promise<CreatedToken> {
    requireAdmin(caller, 'creating a token');
    const store = this.#requireStore();
    const record: TokenRecord = {
      id: `tok_${randomBytes(9).toString('base64url')}`,
      user: input.user,
      admin: input.admin ?? false,
      maxRunning: input.maxRunning ?? null,
      maxQueued: input.maxQueued ?? null,
      ratePerMinute: input.ratePerMinute ?? null,
      createdAt: this.#now().toISOString(),
    };
    if (record.user === '') throw new CrucibleError('invalid_request', 'user must not be empty', 'user');
    const token = newTokenSecret();
    try {
      await store.createToken(record, hashToken(token));
    } catch (error) {
      // 72 random bits of id and 256 of secret: a collision is a broken random source, not bad luck.
      if (error instanceof TokenTaken) throw new CrucibleError('internal', 'token id collision', null);
      throw error;
    }
    return { ...record, token };
  }

  /** Every stored token, oldest first, without secrets. */
  async list(caller: Caller): Promise<TokenRecord[]> {
    requireAdmin(caller, 'listing tokens');
    return (await this.#store?.listTokens()) ?? [];
  }

  /** The token stops authenticating at once. */
  async revoke(id: string, caller: Caller): Promise<void> {
    requireAdmin(caller, 'revoking a token');
    if (id === BOOTSTRAP_TOKEN_ID && this.#adminDigest) {
      throw new CrucibleError(
        'invalid_request',
        'the bootstrap token comes from CRUCIBLE_ADMIN_TOKEN: unset it and restart to revoke it',
        'id',
      );
    }
    if (!(await this.#store?.deleteToken(id))) {
      throw new CrucibleError('not_found', `no token with id "${id}"`, 'id');
    }
  }

  #requireStore(): TokenStore {
    if (!this.#store) throw new CrucibleError('not_found', 'this server keeps no tokens', null);
    return this.#store;
  }

  #bootstrapRecord(): TokenRecord {
    return {
      id: BOOTSTRAP_TOKEN_ID,
      user: BOOTSTRAP_USER,
      admin: true,
      maxRunning: null,
      maxQueued: null,
      ratePerMinute: null,
      createdAt: new Date(0).toISOString(),
    };
  }
}
