import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { V1ConfigMap, V1Deployment, V1EnvVar } from '@kubernetes/client-node';
import { describe } from 'vitest';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY = path.join(REPO, 'deploy');
export const OVERLAYS = ['dev', 'production'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** One rendered object: what every Kubernetes object has, the rest read through client-node's types. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Why `kubectl kustomize` cannot run here, or null when it can. */
export function kubectlMissing(): string | null {
  const probe = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (probe.error) return `kubectl is not installed (${(probe.error as NodeJS.ErrnoException).code})`;
  if (probe.status !== 0) return `kubectl version failed: ${probe.stderr.trim()}`;
  return null;
}

/**
 * `describe` for tests that render the overlays: skipped with the reason in the title where kubectl is
 * missing, but a failure under CI, which must render them.
 */
export function describeWithKubectl(title: string, body: () => void): void {
  const missing = kubectlMissing();
  if (missing && process.env['CI']) throw new Error(`${title}: ${missing}, and CI must run it`);
  if (missing) describe.skip(`${title} (skipped: ${missing})`, body);
  else describe(title, body);
}

const run = promisify(execFile);
const rendered = new Map<Overlay, Promise<KubeObject[]>>();

/** The overlay as `kubectl kustomize` renders it (what `kubectl apply -k` would send), once per file. */
export function renderOverlay(overlay: Overlay): Promise<KubeObject[]> {
  let objects = rendered.get(overlay);
  if (!objects) {
    objects = run('kubectl', ['kustomize', path.join(DEPLOY, 'overlays', overlay)], {
      maxBuffer: 16 << 20,
    }).then(({ stdout }) => parseObjects(stdout));
    rendered.set(overlay, objects);
  }
  return objects;
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    return document.toJS() as KubeObject;
  });
}

export function named<T>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as unknown as T;
}

export function ofKind<T>(objects: readonly KubeObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as unknown as T[];
}

/** The API server's Deployment. */
export function apiDeployment(objects: readonly KubeObject[]): V1Deployment {
  return named<V1Deployment>(objects, 'Deployment', 'crucible');
}

/**
 * The server's environment as the kubelet builds it: the ConfigMaps of `envFrom`, then `env` (which wins).
 * Values from a Secret or a field are given as `{ secret: name/key }` / `{ field: path }`.
 */
export function serverEnvironment(objects: readonly KubeObject[]): Map<string, string | V1EnvVar> {
  const container = apiDeployment(objects).spec!.template.spec!.containers[0]!;
  const environment = new Map<string, string | V1EnvVar>();
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    if (!name) throw new Error('envFrom other than a ConfigMap');
    for (const [key, value] of Object.entries(named<V1ConfigMap>(objects, 'ConfigMap', name).data ?? {})) {
      environment.set(key, value);
    }
  }
  for (const variable of container.env ?? []) {
    environment.set(variable.name, variable.value ?? variable);
  }
  return environment;
}

/** A plain (non-secret, non-field) setting of the server. */
export function setting(objects: readonly KubeObject[], name: string): string | undefined {
  const value = serverEnvironment(objects).get(name);
  if (value !== undefined && typeof value !== 'string') throw new Error(`${name} is not a plain value`);
  return value;
}
