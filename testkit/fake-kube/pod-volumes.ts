import { createBuildDir, type BuildDir } from '../../src/runtime/local/build-dir.js';
import type { SandboxBind } from '../../src/runtime/local/sandbox-types.js';
import { hostnameMarker } from './exec-process.js';
import type { SandboxFile } from './sandbox.js';
import type { KObject, ObjectStore } from './store.js';

/** What the fake kubelet reads of a pod's containers and volumes. */
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  workingDir?: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { limits?: Record<string, string> };
}
export interface Volume {
  name: string;
  configMap?: { name: string };
  emptyDir?: { sizeLimit?: string; medium?: string };
}

/** Bytes of a quantity such as `512Mi` (the binary suffixes the manifests use; plain numbers are bytes). */
export function quantityBytes(quantity: string | undefined, fallback: number): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity ?? '');
  if (!match) return fallback;
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

/** One pod's volumes as its containers share them (see `containerMounts`). */
export interface PodVolumes {
  readonly jobPod: boolean;
  /** Bind /tmp too (a compile init container fills it for the main container). */
  readonly bindTmp: boolean;
  readonly runnerVolumes: ReadonlySet<string>;
  readonly dirs: Map<string, BuildDir>;
}

/**
 * The files, binds and post-launch emptyDirs of one container's volume mounts; null when a ConfigMap is
 * missing. Emptydirs bound from the host are made once per pod volume and shared by its containers.
 */
export async function containerMounts(
  store: ObjectStore,
  pod: KObject,
  container: Container,
  volumes: readonly Volume[],
  shared: PodVolumes,
  runner: { readonly name: string; readonly content: () => Buffer },
): Promise<{
  files: SandboxFile[];
  binds: SandboxBind[];
  emptyDirs: { path: string; sizeBytes: number }[];
} | null> {
  // Paths stay as the container sees them: the sandbox places files at absolute paths, like a container.
  // /etc/hostname is the pod's name, as a kubelet sets it; it also tells exec which sandbox is this pod's.
  const files: SandboxFile[] = [{ path: '/etc/hostname', content: hostnameMarker(pod.metadata.name) }];
  const binds: SandboxBind[] = [];
  const emptyDirs: { path: string; sizeBytes: number }[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.find((v) => v.name === mount.name);
    const isRunner = shared.runnerVolumes.has(mount.name);
    const bindable = mount.mountPath !== '/tmp' || shared.bindTmp;
    if (shared.jobPod && volume?.emptyDir && !isRunner && bindable) {
      let dir = shared.dirs.get(mount.name);
      if (!dir) {
        const sizeMb = Math.ceil(quantityBytes(volume.emptyDir.sizeLimit, 64 << 20) / (1 << 20));
        dir = await createBuildDir(sizeMb, () => {});
        shared.dirs.set(mount.name, dir);
      }
      binds.push({ hostPath: dir.hostPath, path: mount.mountPath, writable: mount.readOnly !== true });
      continue;
    }
    // A writable emptyDir (the sandbox already has its own capped /tmp): mounted once the sandbox exists;
    // the placeholder makes bwrap create the mount point in the read-only root.
    if (volume?.emptyDir && !isRunner && mount.mountPath !== '/tmp') {
      emptyDirs.push({
        path: mount.mountPath,
        sizeBytes: quantityBytes(volume.emptyDir.sizeLimit, 64 << 20),
      });
      files.push({ path: `${mount.mountPath}/.crucible-emptydir`, content: '' });
    }
    if (volume?.configMap) {
      const cm = store.get('configmaps', pod.metadata.namespace ?? '', volume.configMap.name);
      if (!cm) return null;
      for (const [key, value] of Object.entries((cm['data'] ?? {}) as Record<string, string>)) {
        files.push({ path: `${mount.mountPath}/${key}`, content: value });
      }
    }
    if (isRunner)
      files.push({ path: `${mount.mountPath}/${runner.name}`, content: runner.content(), executable: true });
  }
  return { files, binds, emptyDirs };
}
