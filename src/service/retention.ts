import { performance } from 'node:perf_hooks';
import { evaluationObjectsPrefix } from '../core/index.js';
import type { ObjectStore } from '../objects/index.js';
import type { RetentionStore } from '../store/store.js';
import { prunePasses, type PrunePass, type RetentionRule } from './retention-rules.js';
import { messageOf, type Logger } from './transition-writer.js';

export interface PruneOptions {
  /** Delete terminal evaluations that finished longer ago than this (default: the configured retention). */
  readonly olderThanMs?: number;
  /** Count what would go, delete nothing. */
  readonly dryRun?: boolean;
}

export interface PruneReport {
  /** The default's cutoff (evaluations matched by no rule); null when there is no default: those are kept. */
  readonly cutoff: string | null;
  /** Per rule with an age (`--retention-for`): its cutoff and how many of its evaluations went. */
  readonly rules: readonly { readonly rule: string; readonly cutoff: string; readonly evaluations: number }[];
  readonly dryRun: boolean;
  readonly evaluations: number;
  readonly objects: number;
  readonly durationMs: number;
  readonly storeBytesBefore: number;
  readonly storeBytesAfter: number;
}

export interface RetentionServiceOptions {
  readonly store: RetentionStore;
  readonly objects?: ObjectStore;
  /** `--retention`: evaluations older than this are pruned by the background loop; absent: only on demand. */
  readonly retentionMs?: number;
  /** `--retention-for`: per-label and per-user ages, over the default (docs/retention.md, "Rules"). */
  readonly rules?: readonly RetentionRule[];
  /** At most this many evaluations per transaction (default 200); fewer while a batch takes over ~8 ms. */
  readonly batchSize?: number;
  /** How often the background loop runs (default: every 10 minutes). */
  readonly intervalMs?: number;
  readonly now?: () => Date;
  readonly log: Logger;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(1, ms)));
/** Each batch's store work aims at this (ms): long enough to be efficient, short enough not to be noticed. */
const TARGET_MS = 8;
/** Freed pages go back to the filesystem after this many deletions (a few ms of vacuum) and at the end. */
const RECLAIM_EVERY = 500;

/**
 * Retention (docs/retention.md): deletes terminal evaluations older than the cutoff with their rows and
 * objects, in small batches with a pause as long as each batch between them, so API calls interleave with a
 * prune of any size. Objects go first: a crash between the two leaves rows whose objects are gone (answered as
 * "no longer stored") and the next prune deletes them, never orphaned objects nothing points at. One prune at
 * a time per replica; replicas may prune together (a row already deleted is skipped).
 */
export class RetentionService {
  readonly #o: RetentionServiceOptions;
  readonly #now: () => Date;
  #running: Promise<PruneReport> | null = null;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Since start, for `GET /metrics`. */
  prunedEvaluations = 0;
  prunedObjects = 0;

  constructor(options: RetentionServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  get retentionMs(): number | undefined {
    return this.#o.retentionMs;
  }

  get rules(): readonly RetentionRule[] {
    return this.#o.rules ?? [];
  }

  storeBytes(): Promise<number> {
    return this.#o.store.sizeBytes();
  }

  /** Starts the background loop when a retention (or a rule) is configured. */
  start(): void {
    if (this.#o.retentionMs === undefined && this.rules.length === 0) return;
    const every = this.#o.intervalMs ?? 10 * 60_000;
    const tick = () => {
      this.#timer = setTimeout(() => {
        void this.prune()
          .then((report) => {
            if (report.evaluations > 0) {
              this.#o.log.info(
                `retention: pruned ${report.evaluations} evaluations and ${report.objects} objects in ${report.durationMs} ms`,
              );
            }
          })
          .catch((error: unknown) => this.#o.log.warn(`retention: pruning failed: ${messageOf(error)}`))
          .finally(() => {
            if (!this.#stopped) tick();
          });
      }, every);
      this.#timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  /** One prune (a second call while one runs gets the running one's report). */
  prune(options: PruneOptions = {}): Promise<PruneReport> {
    this.#running ??= this.#prune(options).finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #prune(options: PruneOptions): Promise<PruneReport> {
    const passes = prunePasses(this.rules, options.olderThanMs ?? this.#o.retentionMs);
    if (passes.length === 0 && this.rules.length === 0) {
      throw new Error('no retention configured and no age given');
    }
    const started = Date.now();
    const store = this.#o.store;
    const before = await store.sizeBytes();
    const now = this.#now().getTime();
    // Rules of the same age may both select an evaluation in a dry run: it is counted once.
    const counted = new Set<string>();
    let cutoff: string | null = null;
    let evaluations = 0;
    let objects = 0;
    const rules: { rule: string; cutoff: string; evaluations: number }[] = [];
    for (const pass of passes) {
      if (this.#stopped) break;
      const passCutoff = new Date(now - pass.ageMs).toISOString();
      const done = options.dryRun
        ? await this.#count(passCutoff, pass, counted)
        : await this.#delete(passCutoff, pass);
      evaluations += done.evaluations;
      objects += done.objects;
      if (pass.rule === null) cutoff = passCutoff;
      else rules.push({ rule: pass.rule, cutoff: passCutoff, evaluations: done.evaluations });
    }
    if (!options.dryRun) await store.reclaim();
    return {
      cutoff,
      rules,
      dryRun: options.dryRun === true,
      evaluations,
      objects,
      durationMs: Date.now() - started,
      storeBytesBefore: before,
      storeBytesAfter: await store.sizeBytes(),
    };
  }

  async #count(cutoff: string, pass: PrunePass, counted: Set<string>): Promise<PassResult> {
    let evaluations = 0;
    let objects = 0;
    for (const item of await this.#o.store.prunable(cutoff, Number.MAX_SAFE_INTEGER, pass.scope)) {
      if (counted.has(item.id)) continue;
      counted.add(item.id);
      evaluations += 1;
      if (item.hasObjects && this.#o.objects) {
        objects += (await this.#o.objects.list(evaluationObjectsPrefix(item.id))).length;
      }
    }
    return { evaluations, objects };
  }

  /** One pass in batches whose size adapts to keep each store call near TARGET_MS (SQLite holds the loop). */
  async #delete(cutoff: string, pass: PrunePass): Promise<PassResult> {
    const store = this.#o.store;
    const max = this.#o.batchSize ?? 200;
    let size = Math.min(max, 50);
    let sinceReclaim = 0;
    let evaluations = 0;
    let objects = 0;
    while (!this.#stopped) {
      // Timed from the read: on SQLite the read, the deletes and the vacuum each hold the event loop.
      const started = performance.now();
      const batch = await store.prunable(cutoff, size, pass.scope);
      if (batch.length === 0) break;
      for (const item of batch) {
        if (item.hasObjects && this.#o.objects) {
          const deleted = await this.#o.objects.deletePrefix(evaluationObjectsPrefix(item.id));
          objects += deleted;
          this.prunedObjects += deleted;
        }
      }
      const deleted = await store.deleteEvaluations(batch.map((item) => item.id));
      evaluations += deleted;
      this.prunedEvaluations += deleted;
      sinceReclaim += deleted;
      const took = performance.now() - started;
      size =
        took < TARGET_MS / 2 ? Math.min(max, size * 2) : took > TARGET_MS * 2 ? Math.max(1, size >> 1) : size;
      if (sinceReclaim >= RECLAIM_EVERY) {
        await store.reclaim();
        sinceReclaim = 0;
      }
      // A pause as long as the batch took: the prune takes at most half of the event loop, the API the rest.
      await pause(took);
    }
    return { evaluations, objects };
  }
}

interface PassResult {
  readonly evaluations: number;
  readonly objects: number;
}

/** `30d`, `12h`, `90m`, `3600s` → milliseconds; null for anything else. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  if (!match) return null;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as 's'];
  const ms = Number(match[1]) * unit;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}
