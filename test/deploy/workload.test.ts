import { readFileSync } from 'node:fs';
import path from 'node:path';
import type {
  V1Container,
  V1Deployment,
  V1NetworkPolicy,
  V1PodDisruptionBudget,
  V1Service,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';
import { authRequired } from '../../src/config/auth-flags.js';
import { restrictedViolations } from './pod-security.js';
import {
  apiDeployment,
  describeWithKubectl,
  named,
  ofKind,
  OVERLAYS,
  renderOverlay,
  REPO,
  serverEnvironment,
  type KubeObject,
} from './render.js';
import { serverConfigOf } from './server-config.js';

function serverContainer(objects: readonly KubeObject[]): V1Container {
  return apiDeployment(objects).spec!.template.spec!.containers[0]!;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) {
  const wanted = Object.entries(selector ?? {});
  return wanted.length > 0 && wanted.every(([k, v]) => labels?.[k] === v);
}

/** The environment variables the server reads, from the one place that reads them. */
function variablesTheServerReads(): Set<string> {
  const source = readFileSync(path.join(REPO, 'src/config/config.ts'), 'utf8');
  return new Set([...source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!));
}

describeWithKubectl('the API server workload', () => {
  let app: InProcess;
  beforeAll(async () => {
    app = await inProcess({ runtime: new FakeRuntime() });
  });
  afterAll(() => app.close());

  for (const overlay of OVERLAYS) {
    describe(overlay, () => {
      let objects: KubeObject[];
      beforeAll(async () => {
        objects = await renderOverlay(overlay);
      });

      it('runs at least two replicas, rolled one at a time, spread over nodes, one disruption at a time', () => {
        const deployment: V1Deployment = apiDeployment(objects);
        const replicas = deployment.spec!.replicas!;
        expect(replicas).toBeGreaterThanOrEqual(2);
        expect(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
        const podLabels = deployment.spec!.template.metadata!.labels;
        const spread = deployment.spec!.template.spec!.topologySpreadConstraints ?? [];
        const byNode = spread.find((c) => c.topologyKey === 'kubernetes.io/hostname');
        expect(byNode?.whenUnsatisfiable).toBe('DoNotSchedule');
        for (const c of spread) expect(selects(c.labelSelector?.matchLabels, podLabels)).toBe(true);
        const budgets = ofKind<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((b) =>
          selects(b.spec?.selector?.matchLabels, podLabels),
        );
        expect(budgets).toHaveLength(1);
        const maxUnavailable = budgets[0]!.spec!.maxUnavailable;
        expect(typeof maxUnavailable).toBe('number');
        expect(maxUnavailable).toBeGreaterThanOrEqual(1);
        expect(maxUnavailable).toBeLessThan(replicas);
      });

      it('probes routes the API serves, on the port it listens on', async () => {
        const container = serverContainer(objects);
        const config = serverConfigOf(objects);
        const port = container.ports!.find((p) => p.name === 'http');
        expect(port?.containerPort).toBe(config.port);
        expect(config.host).toBe('0.0.0.0');
        const probes = [container.startupProbe, container.livenessProbe, container.readinessProbe];
        // Liveness must not depend on the store (/readyz pings it): a database outage would restart every pod.
        expect(probes.map((p) => p?.httpGet?.path)).toEqual(['/healthz', '/healthz', '/readyz']);
        const api = await app.api();
        expect((await api.inject({ url: '/no-such-route' })).statusCode).toBe(404);
        for (const probe of probes) {
          expect(probe!.httpGet!.port).toBe('http');
          expect((await api.inject({ url: probe!.httpGet!.path! })).statusCode, probe!.httpGet!.path).toBe(
            200,
          );
        }
      });

      it('every pod is admitted under the restricted Pod Security Standard, read-only, with resources', () => {
        const deployments = ofKind<V1Deployment>(objects, 'Deployment');
        expect(deployments.length).toBeGreaterThan(0);
        for (const deployment of deployments) {
          const pod = deployment.spec!.template.spec!;
          expect(restrictedViolations(pod), deployment.metadata!.name).toEqual([]);
          expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
          for (const c of pod.containers) {
            expect(c.securityContext?.readOnlyRootFilesystem, c.name).toBe(true);
            expect(c.resources?.requests?.['cpu'], c.name).toBeDefined();
            expect(c.resources?.requests?.['memory'], c.name).toBeDefined();
            expect(c.resources?.limits?.['memory'], c.name).toBeDefined();
          }
        }
      });

      it('gives the server writable directories for its data and temporary files only', () => {
        const container = serverContainer(objects);
        const volumes = apiDeployment(objects).spec!.template.spec!.volumes ?? [];
        const config = serverConfigOf(objects);
        for (const dir of [config.dataDir, '/tmp']) {
          const mount = container.volumeMounts?.find((m) => m.mountPath === dir);
          expect(mount, dir).toBeDefined();
          expect(volumes.find((v) => v.name === mount!.name)?.emptyDir, dir).toBeDefined();
        }
      });

      it('sets only variables the server reads, with values it accepts', () => {
        const known = variablesTheServerReads();
        for (const name of serverEnvironment(objects).keys()) expect(known, name).toContain(name);
        const config = serverConfigOf(objects);
        expect(config.backend).toBe('kubernetes');
        expect(config.replicaId).toMatch(/^crucible-/);
        expect(config.leaderElection.namespace).toBe(apiDeployment(objects).metadata!.namespace);
      });

      it('requires bearer tokens (it listens beyond loopback) and takes its bootstrap admin token from a Secret', () => {
        const config = serverConfigOf(objects);
        expect(authRequired(config)).toBe(true);
        expect(config.auth.adminToken).toBeDefined();
        const token = serverEnvironment(objects).get('CRUCIBLE_ADMIN_TOKEN');
        // The dev overlay generates the Secret, so kustomize adds its content hash to the name.
        expect(typeof token === 'object' && token.valueFrom?.secretKeyRef).toEqual({
          name: expect.stringMatching(/^crucible-admin-token(-[a-z0-9]{10})?$/),
          key: 'token',
        });
        const secrets = ofKind<KubeObject>(objects, 'Secret').map((s) =>
          s.metadata.name.replace(/-[a-z0-9]{10}$/, ''),
        );
        if (overlay === 'dev') expect(secrets).toContain('crucible-admin-token');
      });

      it('takes the store URL from a Secret, and writes no password anywhere else', () => {
        const store = serverEnvironment(objects).get('CRUCIBLE_STORE');
        expect(typeof store === 'object' && store.valueFrom?.secretKeyRef?.key).toBe('url');
        const plain = [...serverEnvironment(objects).values()].filter((v) => typeof v === 'string');
        for (const value of plain) expect(value).not.toMatch(/:\/\/[^/@]*:[^/@]*@/);
        const secrets = ofKind<KubeObject>(objects, 'Secret');
        if (overlay === 'production') expect(secrets).toEqual([]);
        else
          expect(secrets.map((s) => s.metadata.name.replace(/-[a-z0-9]{10}$/, ''))).toContain(
            'crucible-store',
          );
      });

      it('serves the API port through the Service and lets nothing else in or out but DNS, PostgreSQL, the API server', () => {
        const deployment = apiDeployment(objects);
        const podLabels = deployment.spec!.template.metadata!.labels;
        const service = named<V1Service>(objects, 'Service', 'crucible');
        expect(selects(service.spec!.selector, podLabels)).toBe(true);
        expect(service.spec!.ports!.map((p) => p.targetPort)).toEqual(['http']);
        const policies = ofKind<V1NetworkPolicy>(objects, 'NetworkPolicy').filter(
          (p) =>
            p.metadata!.namespace === deployment.metadata!.namespace &&
            selects(p.spec!.podSelector?.matchLabels, podLabels),
        );
        expect(policies).toHaveLength(1);
        const spec = policies[0]!.spec!;
        expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
        expect(spec.ingress!.flatMap((rule) => rule.ports ?? [{ port: 'any' }])).toEqual([
          { port: 'http', protocol: 'TCP' },
        ]);
        const egress = spec.egress!.flatMap((rule) => (rule.ports ?? [{ port: 'any' }]).map((p) => p.port));
        expect(new Set(egress)).toEqual(new Set([53, 5432, 443, 6443]));
      });
    });
  }
});
