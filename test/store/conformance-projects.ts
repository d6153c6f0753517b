import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { projectNamespace, type Project } from '../../src/core/index.js';
import { ProjectNameTaken, type ProjectStore } from '../../src/store/store.js';
import type { ConformanceContext } from './conformance.js';
import { moveTo, queuedEvaluation } from './fixtures.js';

function project(overrides: Partial<Project> = {}): Project {
  const id = randomUUID();
  return {
    id,
    name: `p-${id.slice(0, 8)}`,
    namespace: projectNamespace(id),
    limits: { memoryMb: 1024, maxConcurrent: 2, cpu: 1.5 },
    egress: ['10.0.0.0/8'],
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Projects and the `project` of evaluations: what both adapters must do alike. */
export function describeProjectConformance({ store }: ConformanceContext): void {
  const projects = (): ProjectStore => {
    const found = store().projects;
    if (!found) throw new Error('this adapter stores no projects');
    return found;
  };

  describe('projects', () => {
    it('stores a project and reads it back exactly, oldest first in the list', async () => {
      const first = project();
      const second = project({ limits: {}, egress: [] });
      await projects().createProject(first);
      await projects().createProject(second);
      expect(await projects().getProject(first.id)).toEqual(first);
      expect(await projects().getProject(second.id)).toEqual(second);
      expect(await projects().getProject('missing')).toBeNull();
      expect((await projects().listProjects()).map((p) => p.id)).toEqual([first.id, second.id]);
    });

    it('refuses a second project with the same name, writing nothing', async () => {
      const first = project({ name: 'same' });
      await projects().createProject(first);
      await expect(projects().createProject(project({ name: 'same' }))).rejects.toBeInstanceOf(
        ProjectNameTaken,
      );
      expect(await projects().listProjects()).toEqual([first]);
    });

    it('deletes a project once; its evaluations stay and still name it', async () => {
      const gone = project();
      await projects().createProject(gone);
      const evaluation = queuedEvaluation({ project: gone.id });
      await store().create(evaluation);
      expect(await projects().deleteProject(gone.id)).toBe(true);
      expect(await projects().deleteProject(gone.id)).toBe(false);
      expect(await projects().getProject(gone.id)).toBeNull();
      expect((await store().get(evaluation.id))?.project).toBe(gone.id);
      // The name is free again.
      await projects().createProject(project({ name: gone.name }));
    });

    it('keeps the project of an evaluation through transitions and filters the list by it', async () => {
      const a = project();
      const b = project();
      await projects().createProject(a);
      await projects().createProject(b);
      const ofA = [
        queuedEvaluation({ project: a.id, labels: { team: 'x' } }),
        queuedEvaluation({ project: a.id }),
      ];
      const ofB = queuedEvaluation({ project: b.id, labels: { team: 'x' } });
      const none = queuedEvaluation({ labels: { team: 'x' } });
      for (const e of [...ofA, ofB, none]) await store().create(e);
      expect(await store().saveTransition(moveTo(ofA[0]!, 'starting'))).not.toBeNull();
      expect((await store().get(ofA[0]!.id))?.project).toBe(a.id);
      expect((await store().get(none.id))?.project).toBeUndefined();

      const page = await store().list({ project: a.id, limit: 10 });
      expect(page.items.map((e) => e.id)).toEqual([ofA[1]!.id, ofA[0]!.id]);
      const byStatus = await store().list({ project: a.id, status: 'starting', limit: 10 });
      expect(byStatus.items.map((e) => e.id)).toEqual([ofA[0]!.id]);
      const byLabel = await store().list({ project: b.id, label: { key: 'team', value: 'x' }, limit: 10 });
      expect(byLabel.items.map((e) => e.id)).toEqual([ofB.id]);
      const all = await store().list({ label: { key: 'team', value: 'x' }, status: 'queued', limit: 10 });
      expect(all.items.map((e) => e.id)).toEqual([none.id, ofB.id]);
    });

    it('pages a project filter with a cursor', async () => {
      const a = project();
      await projects().createProject(a);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const e = queuedEvaluation({ project: a.id });
        await store().create(e);
        await store().create(queuedEvaluation());
        ids.unshift(e.id);
      }
      const first = await store().list({ project: a.id, limit: 3 });
      expect(first.items.map((e) => e.id)).toEqual(ids.slice(0, 3));
      const rest = await store().list({ project: a.id, limit: 3, cursor: first.nextCursor ?? '' });
      expect(rest.items.map((e) => e.id)).toEqual(ids.slice(3));
      expect(rest.nextCursor).toBeNull();
    });
  });
}
