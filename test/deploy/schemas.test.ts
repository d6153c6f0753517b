import { describe, expect, it } from 'vitest';
import { describeWithKubectl, OVERLAYS, parseObjects, renderOverlay } from './render.js';
import { unknownFields, validateSchema } from './schemas.js';

describe('schema validation (the checks the overlays are held to)', () => {
  const [deployment] = parseObjects(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: x }
spec:
  selector: { matchLabels: { a: b } }
  template:
    metadata: { labels: { a: b } }
    spec:
      containers:
        - name: x
          image: x
          livenessProbe: { httpGet: { path: /healthz, port: 8080 } }
`);

  it('accepts a valid object', async () => {
    await validateSchema(deployment!);
    expect(unknownFields(deployment!)).toEqual([]);
  });

  it('refuses a wrong type and a missing required field', async () => {
    await expect(validateSchema({ ...deployment!, spec: { replicas: 'two' } })).rejects.toThrow(/replicas/);
    await expect(validateSchema({ ...deployment!, spec: { template: {} } })).rejects.toThrow(/selector/);
  });

  it('finds misspelt fields at any depth, through arrays and maps', () => {
    const spec = deployment!['spec'] as { template: { spec: { containers: object[] } } };
    const typo = {
      ...deployment!,
      spec: {
        ...spec,
        replica: 2,
        template: {
          ...spec.template,
          spec: { containers: [{ name: 'x', image: 'x', readinessProbe: { httpGet: { pth: '/' } } }] },
        },
      },
    };
    expect(unknownFields(typo).sort()).toEqual([
      'Deployment.spec.replica',
      'Deployment.spec.template.spec.containers[0].readinessProbe.httpGet.pth',
    ]);
  });
});

describeWithKubectl('the overlays render and validate against the Kubernetes schemas', () => {
  for (const overlay of OVERLAYS) {
    it(`${overlay}: every object is valid, with no unknown field`, async () => {
      const objects = await renderOverlay(overlay);
      expect(objects.length).toBeGreaterThan(10);
      for (const object of objects) {
        const where = `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
        await expect(validateSchema(object), where).resolves.toBeUndefined();
        expect(unknownFields(object), where).toEqual([]);
      }
    });
  }
});
