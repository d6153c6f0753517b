import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { findLanguage } from '../../src/core/index.js';
import type { FakeCluster } from '../../testkit/fake-kube/index.js';

export const PYTHON_IMAGE = findLanguage('python')!.image;

/** A bare pod whose main process waits forever, with a 1 MiB emptyDir at /workspace. */
export function idlePod(name: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'crucible-test' },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'main',
          image: PYTHON_IMAGE,
          command: ['python3', '-c', 'import signal; signal.pause()'],
          env: [{ name: 'GREETING', value: 'hello' }],
          volumeMounts: [{ name: 'workspace', mountPath: '/workspace' }],
        },
      ],
      volumes: [{ name: 'workspace', emptyDir: { sizeLimit: '1Mi' } }],
    },
  };
}

/** Resolves when the stored pod satisfies `ready` (watching the store, never polling). */
export function podUntil(
  cluster: FakeCluster,
  name: string,
  ready: (pod: V1Pod) => boolean,
  namespace = 'crucible-test',
): Promise<V1Pod> {
  return new Promise((resolve) => {
    const check = (pod: V1Pod | undefined): boolean => {
      if (!pod || !ready(pod)) return false;
      unsubscribe();
      resolve(pod);
      return true;
    };
    const unsubscribe = cluster.store.subscribe((event) => {
      if (event.resource === 'pods' && event.object.metadata.name === name) check(event.object as V1Pod);
    });
    check(cluster.store.get('pods', namespace, name) as V1Pod | undefined);
  });
}

export const isRunning = (pod: V1Pod): boolean => pod.status?.phase === 'Running';

export function kubeConfigOf(cluster: FakeCluster): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return kc;
}
