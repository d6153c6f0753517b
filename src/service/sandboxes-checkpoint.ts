import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_OBJECT_RETRY, putRetried, type ObjectStore } from '../objects/index.js';
import type {
  CheckpointingRuntime,
  SandboxInstance,
  SandboxInstanceSpec,
  SandboxRuntime,
} from '../runtime/sandbox/sandbox-runtime.js';

const run = promisify(execFile);

/** The checkpoint image (gVisor) of a hibernated sandbox, next to its workspace archive. */
export const CHECKPOINT_KEY = (id: string) => `sandboxes/${id}/checkpoint.tar`;

interface Log {
  warn(message: string): void;
}

/**
 * Hibernation that keeps processes, where the backend can (gVisor's `runsc checkpoint`): called once the
 * workspace archive is stored, so any failure here only loses the processes. The image directory is runsc's
 * output on the host (nothing the sandbox controls), stored as one tar. True when an image was stored; the
 * instance is stopped then.
 */
export async function saveCheckpoint(
  instance: SandboxInstance,
  objects: ObjectStore,
  id: string,
  log: Log,
): Promise<boolean> {
  if (!instance.checkpoint) return false;
  const dir = await mkdtemp(join(tmpdir(), 'crucible-checkpoint-'));
  try {
    if (!(await instance.checkpoint(join(dir, 'image')))) return false;
    const { stdout } = await run('tar', ['-C', join(dir, 'image'), '-cf', '-', '.'], {
      encoding: 'buffer',
      maxBuffer: 1 << 30,
    });
    // Retried on transient store errors like every object write (objects/retry.ts).
    await putRetried(
      objects,
      CHECKPOINT_KEY(id),
      stdout,
      { contentType: 'application/x-tar' },
      DEFAULT_OBJECT_RETRY,
      (e, n) =>
        log.warn(`storing the checkpoint of sandbox ${id} failed (attempt ${n}); retrying: ${String(e)}`),
    );
    return true;
  } catch (error) {
    log.warn(`cannot checkpoint sandbox ${id} (it resumes from its workspace archive): ${String(error)}`);
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function checkpointing(runtime: SandboxRuntime): runtime is CheckpointingRuntime {
  return typeof (runtime as Partial<CheckpointingRuntime>).restoreCheckpoint === 'function';
}

/**
 * Resumes a sandbox from its checkpoint image, processes included; null when there is none or it cannot be
 * restored (the caller then restores the workspace archive). The image is used once: deleted before the
 * restore, so a later resume can never bring back an older state than the last hibernation's.
 */
export async function resumeFromCheckpoint(
  runtime: SandboxRuntime,
  spec: SandboxInstanceSpec,
  objects: ObjectStore,
  log: Log,
): Promise<SandboxInstance | null> {
  const key = CHECKPOINT_KEY(spec.sandboxId);
  if (!checkpointing(runtime)) {
    await objects.delete(key);
    return null;
  }
  const image = await objects.get(key);
  if (!image) return null;
  const dir = await mkdtemp(join(tmpdir(), 'crucible-restore-'));
  try {
    const untar = spawn('tar', ['-C', dir, '-xf', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    untar.stdin.on('error', () => undefined);
    image.pipe(untar.stdin);
    const [code] = (await once(untar, 'close')) as [number | null];
    await objects.delete(key);
    if (code !== 0) throw new Error(`tar -x of the checkpoint image exited ${code}`);
    return await runtime.restoreCheckpoint(spec, dir);
  } catch (error) {
    log.warn(
      `cannot restore sandbox ${spec.sandboxId}'s checkpoint (its workspace archive is used): ${String(error)}`,
    );
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Forgets a checkpoint image (a tar-only hibernation or a termination must not leave an older one). */
export async function dropCheckpoint(objects: ObjectStore, id: string): Promise<void> {
  await objects.delete(CHECKPOINT_KEY(id));
}
