import { afterAll, beforeAll, expect, test } from 'vitest';
import { LANGUAGES } from '../../src/core/index.js';
import { request, setup, type Env } from '../kubernetes/harness.js';
import { HELLO } from './programs.js';
import { ensureAllLanguages, INSTALL_TIMEOUT_MS } from './support.js';

/** The interpreted languages (compiled ones: kubernetes-compiled.test.ts). */
const INTERPRETED = LANGUAGES.filter((l) => !('compile' in l)).map((l) => l.id);

let env: Env;
beforeAll(async () => {
  // The fake kubelet runs each pod's program in the local sandbox, with this host's interpreters.
  await ensureAllLanguages();
  env = await setup();
}, INSTALL_TIMEOUT_MS);
afterAll(() => env?.close());

test.each(INTERPRETED)(
  'hello world in %s on the Kubernetes backend (its image from the table, fake API server)',
  async (language) => {
    const t = await env.run({ ...request(HELLO[language]!), language });
    await t.until();
    expect(t.err).toBe('');
    expect(t.evaluation.status).toBe('succeeded');
    expect(t.out).toBe('hello\n');
    const job = env.cluster.store.list('jobs', 'crucible-test').at(-1) as unknown as {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    expect(job?.spec.template.spec.containers[0]?.image).toBe(
      LANGUAGES.find((l) => l.id === language)?.image,
    );
  },
  60_000,
);
