import { statfs } from 'node:fs/promises';
import { CrucibleError } from '../core/index.js';

export interface StorageGuardOptions {
  /** The data directory: its filesystem is the one checked. */
  readonly path: string;
  /** New work is refused below this many free bytes. */
  readonly minFreeBytes: number;
  /** How long one statfs answer is reused (default 1 s): a burst of submissions costs one system call. */
  readonly cacheMs?: number;
}

/**
 * Disk pressure (docs/retention.md): when the data directory's filesystem has less than `minFreeBytes`
 * free, new submissions answer `503 storage_full` before anything is stored; running work and reads go on.
 */
export class StorageGuard {
  readonly #o: StorageGuardOptions;
  #checked = 0;
  #free = Number.POSITIVE_INFINITY;

  constructor(options: StorageGuardOptions) {
    this.#o = options;
  }

  async freeBytes(): Promise<number> {
    const now = Date.now();
    if (now - this.#checked >= (this.#o.cacheMs ?? 1000)) {
      const stats = await statfs(this.#o.path);
      this.#free = stats.bavail * stats.bsize;
      this.#checked = now;
    }
    return this.#free;
  }

  /** @throws CrucibleError `storage_full` when free space is below the floor. */
  async admit(): Promise<void> {
    const free = await this.freeBytes();
    if (free >= this.#o.minFreeBytes) return;
    const mb = (bytes: number) => Math.floor(bytes / (1024 * 1024));
    throw new CrucibleError(
      'storage_full',
      `the server's storage is nearly full (${mb(free)} MiB free, below --min-free-mb ${mb(this.#o.minFreeBytes)}): ` +
        'no new work is accepted until space is freed (crucible prune, or a shorter --retention)',
    );
  }
}
