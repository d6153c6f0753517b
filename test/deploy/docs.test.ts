import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { V1ClusterRole, V1Role } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DEPLOY, parseObjects, REPO } from './render.js';

const guide = readFileSync(path.join(REPO, 'docs/deploy.md'), 'utf8');

/** The rows of the guide's table whose first cell is `first`. */
function tableRows(first: RegExp): string[] {
  return guide.split('\n').filter((line) => line.startsWith('|') && first.test(line.split('|')[1]!.trim()));
}

describe('docs/deploy.md', () => {
  it('documents every environment variable the server reads', () => {
    const config = readFileSync(path.join(REPO, 'src/config/config.ts'), 'utf8');
    const variables = new Set([...config.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
    expect(variables.size).toBeGreaterThan(10);
    const documented = tableRows(/^`[A-Z][A-Z0-9_]*`$/).map((row) => row.split('|')[1]!.trim().slice(1, -1));
    expect([...variables].sort()).toEqual([...documented].sort());
  });

  it('has a row for every RBAC rule, with its namespace (`cluster-wide` for a ClusterRole), resource and verbs', () => {
    const roles = parseObjects(readFileSync(path.join(DEPLOY, 'base/rbac.yaml'), 'utf8')).filter((o) =>
      ['Role', 'ClusterRole'].includes(o.kind),
    ) as unknown as (V1Role | V1ClusterRole)[];
    expect(roles.some((role) => !role.metadata!.namespace)).toBe(true);
    const rows = tableRows(/^(crucible(-evaluations)?|cluster-wide)$/);
    const rules = roles.flatMap((role) => (role.rules ?? []).map((rule) => ({ role, rule })));
    expect(rows).toHaveLength(rules.length);
    for (const { role, rule } of rules) {
      const cells = (row: string) => row.split('|').map((c) => c.trim());
      const match = rows.find((row) => {
        const [, namespace, resource, verbs] = cells(row);
        return (
          namespace === (role.metadata!.namespace ?? 'cluster-wide') &&
          rule.resources!.every((r) => resource!.includes(`\`${r}\``)) &&
          rule.verbs.every((v) => verbs!.includes(`\`${v}\``)) &&
          (rule.resourceNames ?? []).every((n) => verbs!.includes(`\`${n}\``))
        );
      });
      expect(match, `${role.metadata!.name}: ${rule.resources} ${rule.verbs}`).toBeDefined();
    }
  });
});
