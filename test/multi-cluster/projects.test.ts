import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setup, type Env } from './harness.js';

/** Projects on more than one cluster: the namespace is made where the run is placed, and removed from all. */
describe('projects over two clusters', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup({ lostAfterMs: 5_000, concurrency: 4 });
  });
  afterAll(async () => env.close());

  it('runs a project evaluation in proj-<id> on the cluster it is placed on; deleting the project removes it', async () => {
    const projects = env.service.projects!;
    const project = await projects.create({ name: 'team-a', limits: { maxConcurrent: 2 } });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { evaluation } = await env.service.submit({
        language: 'python',
        code: `print(${i})`,
        project: project.id,
      });
      ids.push(evaluation.id);
    }
    for (const [i, id] of ids.entries()) {
      const final = await env.service.wait(id, 60_000);
      expect(final.status, id).toBe('succeeded');
      expect((await env.service.withOutput(final)).stdout).toBe(`${i}\n`);
    }
    // Round-robin placement spread the runs: the namespace, its policy and its quota exist on both clusters.
    for (const cluster of env.clusters) {
      expect(cluster.fake.store.get('namespaces', '', project.namespace), cluster.name).toBeDefined();
      expect(cluster.fake.store.list('resourcequotas', project.namespace), cluster.name).toHaveLength(1);
    }
    expect(env.clusters.reduce((n, c) => n + c.jobsCreated.length, 0)).toBe(4);

    await projects.delete(project.id);
    for (const cluster of env.clusters) {
      expect(cluster.fake.store.get('namespaces', '', project.namespace), cluster.name).toBeUndefined();
    }
  });
});
