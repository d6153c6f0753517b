import { describe, expect, it } from 'vitest';
import { createStore } from '../../src/store/index.js';

describe('createStore', () => {
  it('opens SQLite for sqlite: URLs', async () => {
    const store = await createStore('sqlite::memory:');
    await store.migrate();
    expect(await store.list({ limit: 1 })).toEqual({ items: [], nextCursor: null });
    await store.close();
  });

  it('says PostgreSQL is not available yet', async () => {
    await expect(createStore('postgres://localhost/crucible')).rejects.toThrow(
      'PostgreSQL store is not available in this build yet',
    );
  });

  it('refuses other schemes instead of treating them as file names', async () => {
    await expect(createStore('mysql://localhost/crucible')).rejects.toThrow(/unsupported store URL/);
  });
});
