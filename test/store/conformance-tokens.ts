import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenTaken, type TokenRecord, type TokenStore } from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { moveTo, queuedEvaluation } from './fixtures.js';

function token(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: `tok_${randomUUID().slice(0, 12)}`,
    user: 'alice',
    admin: false,
    maxRunning: null,
    maxQueued: null,
    ratePerMinute: null,
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

const hash = () => randomUUID().replaceAll('-', '').repeat(2);

/** API tokens and the `user` of evaluations: what both adapters must do alike. */
export function describeTokenConformance({ store }: ConformanceContext): void {
  const tokens = (): TokenStore => {
    const found = store().tokens;
    if (!found) throw new Error('this adapter stores no tokens');
    return found;
  };

  describe('tokens', () => {
    it('stores a token under its hash and finds it by that hash only, quotas and admin flag intact', async () => {
      const plain = token();
      const admin = token({ user: 'root', admin: true, maxRunning: 4, maxQueued: 100, ratePerMinute: 60 });
      const [plainHash, adminHash] = [hash(), hash()];
      expect(await tokens().countTokens()).toBe(0);
      await tokens().createToken(plain, plainHash);
      await tokens().createToken(admin, adminHash);
      expect(await tokens().findTokenByHash(plainHash)).toEqual({ ...plain, secretHash: plainHash });
      expect(await tokens().findTokenByHash(adminHash)).toEqual({ ...admin, secretHash: adminHash });
      expect(await tokens().findTokenByHash(hash())).toBeNull();
      expect(await tokens().countTokens()).toBe(2);
    });

    it('lists tokens oldest first, without their hashes', async () => {
      const first = token();
      const second = token({ user: 'bob', maxQueued: 3 });
      await tokens().createToken(first, hash());
      await tokens().createToken(second, hash());
      const listed = await tokens().listTokens();
      expect(listed).toEqual([first, second]);
      for (const item of listed) expect(item).not.toHaveProperty('secretHash');
    });

    it('refuses a second token with the same id or the same hash, writing nothing', async () => {
      const first = token();
      const sharedHash = hash();
      await tokens().createToken(first, sharedHash);
      await expect(tokens().createToken(token({ id: first.id }), hash())).rejects.toBeInstanceOf(TokenTaken);
      await expect(tokens().createToken(token(), sharedHash)).rejects.toBeInstanceOf(TokenTaken);
      expect(await tokens().listTokens()).toEqual([first]);
    });

    it('revokes a token once: it is no longer found', async () => {
      const gone = token();
      const goneHash = hash();
      await tokens().createToken(gone, goneHash);
      expect(await tokens().deleteToken(gone.id)).toBe(true);
      expect(await tokens().deleteToken(gone.id)).toBe(false);
      expect(await tokens().findTokenByHash(goneHash)).toBeNull();
      expect(await tokens().countTokens()).toBe(0);
    });

    it('keeps the user of an evaluation through transitions and filters the list by it', async () => {
      const ofAlice = [
        queuedEvaluation({ user: 'alice', labels: { team: 'x' } }),
        queuedEvaluation({ user: 'alice', status: 'queued' }),
      ];
      const ofBob = queuedEvaluation({ user: 'bob', labels: { team: 'x' } });
      const anonymous = queuedEvaluation({ labels: { team: 'x' } });
      for (const e of [...ofAlice, ofBob, anonymous]) await store().create(e);
      expect(await store().saveTransition(moveTo(ofAlice[0]!, 'starting'))).not.toBeNull();
      expect((await store().get(ofAlice[0]!.id))?.user).toBe('alice');
      expect((await store().get(anonymous.id))?.user).toBeUndefined();

      const page = await store().list({ user: 'alice', limit: 10 });
      expect(page.items.map((e) => e.id)).toEqual([ofAlice[1]!.id, ofAlice[0]!.id]);
      const labelled = await store().list({ user: 'alice', label: { key: 'team', value: 'x' }, limit: 10 });
      expect(labelled.items.map((e) => e.id)).toEqual([ofAlice[0]!.id]);
      const queued = await store().list({ user: 'alice', status: 'queued', limit: 10 });
      expect(queued.items.map((e) => e.id)).toEqual([ofAlice[1]!.id]);
      const both = await store().list({
        user: 'bob',
        status: 'queued',
        label: { key: 'team', value: 'x' },
        limit: 10,
      });
      expect(both.items.map((e) => e.id)).toEqual([ofBob.id]);
      // Paginated by the same cursor as any list.
      const first = await store().list({ user: 'alice', limit: 1 });
      const next = await store().list({ user: 'alice', limit: 1, cursor: first.nextCursor! });
      expect(next.items.map((e) => e.id)).toEqual([ofAlice[0]!.id]);
      expect(next.nextCursor).toBeNull();
    });
  });
}
