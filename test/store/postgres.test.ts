import { afterAll, afterEach } from 'vitest';
import { describePostgres, TestSchemas } from '../support/postgres.js';
import { describeStoreConformance } from './conformance.js';

const schemas = new TestSchemas();
afterEach(() => schemas.dropAll());
afterAll(() => schemas.dropAll());

describePostgres('PostgreSQL store', () => {
  describeStoreConformance('postgres', async () => schemas.store(), {
    reopen: async (closed) => schemas.sibling(closed),
    sibling: async (open) => schemas.sibling(open),
  });
});
