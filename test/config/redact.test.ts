import { describe, expect, test } from 'vitest';
import { redactedStoreUrl } from '../../src/config/index.js';

describe('store URL in the start-up log line', () => {
  test('hides a password and keeps the rest', () => {
    const shown = redactedStoreUrl('postgres://crucible:s3cret@db.internal:5432/crucible?sslmode=require');
    expect(shown).not.toContain('s3cret');
    expect(shown).toBe('postgres://crucible:***@db.internal:5432/crucible?sslmode=require');
  });

  test('leaves URLs without a password as they are', () => {
    expect(redactedStoreUrl('sqlite:/var/lib/crucible/crucible.db')).toBe(
      'sqlite:/var/lib/crucible/crucible.db',
    );
    expect(redactedStoreUrl('postgres://db.internal/crucible')).toBe('postgres://db.internal/crucible');
  });
});
