import type { Readable } from 'node:stream';
import {
  artifactContentType,
  artifactKey,
  DEFAULT_ARTIFACTS_MB,
  evaluationObjectsPrefix,
  MAX_ARTIFACT_FILES,
  validArtifactName,
  type ArtifactEntry,
  type ArtifactsSummary,
  type DroppedArtifact,
  type Evaluation,
} from '../core/index.js';
import {
  DEFAULT_OBJECT_RETRY,
  putRetried,
  type ByteRange,
  type ObjectRetryPolicy,
  type ObjectStore,
} from '../objects/index.js';
import type { LogSpillFiles } from './log-spill.js';
import { spool } from './spool.js';
import type { CollectedFile } from '../runtime/artifacts.js';

/** What one run's collected files go through: the cap, the names, the object store. */
export interface ArtifactSink {
  accept(file: CollectedFile): Promise<void>;
  summary(): ArtifactsSummary | undefined;
}

/** An artifact opened for download. */
export interface OpenedArtifact {
  readonly entry: ArtifactEntry;
  readonly contentType: string;
  readonly body: Readable;
  /** The range served (inclusive), or null for the whole object. */
  readonly range: { start: number; end: number } | null;
}

async function drain(body: Readable): Promise<void> {
  for await (const _ of body) {
    // dropped: read to the end so the collector can go on to the next file
  }
}

/**
 * Artifacts between the runtimes and the object store (docs/artifacts.md): each run's collected files are
 * stored in name order under `evaluations/<id>/artifacts/<name>` while they fit the evaluation's cap
 * (`limits.artifactsMb`); a file that would exceed it, the 1,001st, a name that cannot be a key, or anything
 * not a regular file is dropped and reported. The result lists what was stored with size and SHA-256.
 */
export class EvaluationArtifacts {
  readonly #objects: ObjectStore;
  /** How each object write is retried on transient errors. */
  readonly retry: ObjectRetryPolicy;
  readonly #log: ((message: string) => void) | undefined;

  constructor(
    objects: ObjectStore,
    retry: ObjectRetryPolicy = DEFAULT_OBJECT_RETRY,
    log?: (message: string) => void,
  ) {
    this.#objects = objects;
    this.retry = retry;
    this.#log = log;
  }

  /** Uploads a finished run's spilled output (docs/artifacts.md, "Long logs"). */
  storeLogSpill(spill: LogSpillFiles, evaluationId: string, afterSeq: number) {
    return spill.store(this.#objects, evaluationId, afterSeq, this.retry, (error, attempt) =>
      this.#log?.(
        `storing the logs of ${evaluationId} failed (attempt ${attempt}); retrying: ${String(error)}`,
      ),
    );
  }

  /** Deletes every object of a run whose result was not stored (a cancel or another end won). */
  async dropObjectsOf(evaluationId: string): Promise<void> {
    await this.#objects.deletePrefix(evaluationObjectsPrefix(evaluationId));
  }

  get objects(): ObjectStore {
    return this.#objects;
  }

  sinkFor(evaluationId: string, capMb: number | undefined): ArtifactSink {
    let room = (capMb ?? DEFAULT_ARTIFACTS_MB) * 1024 * 1024;
    const stored: ArtifactEntry[] = [];
    const dropped: DroppedArtifact[] = [];
    const objects = this.#objects;
    const { retry } = this;
    const log = this.#log;
    return {
      async accept(file) {
        const drop = async (reason: DroppedArtifact['reason']) => {
          dropped.push({ name: file.name, size: file.size, reason });
          if (file.body) await drain(file.body);
        };
        if (file.kind === 'dropped') return drop(file.reason);
        if (!validArtifactName(file.name)) return drop('invalid_name');
        if (file.kind !== 'file') return drop('not_regular_file');
        if (stored.length >= MAX_ARTIFACT_FILES) return drop('too_many');
        if (file.size > room) return drop('over_cap');
        // Read once into memory or a temp file, so a transient store error can be retried.
        const spooled = await spool(file.body);
        try {
          if (spooled.size > room) {
            dropped.push({ name: file.name, size: spooled.size, reason: 'over_cap' });
            return;
          }
          const key = artifactKey(evaluationId, file.name);
          const contentType = artifactContentType(file.name);
          await putRetried(objects, key, spooled.body, { contentType }, retry, (error, attempt) =>
            log?.(
              `storing artifact ${file.name} of ${evaluationId} failed (attempt ${attempt}); retrying: ${String(error)}`,
            ),
          );
        } catch (error) {
          // Given up on (a final error, or still failing after the retries): reported, the run goes on.
          log?.(`artifact ${file.name} of ${evaluationId} not stored: ${String(error)}`);
          dropped.push({ name: file.name, size: spooled.size, reason: 'store_failed' });
          return;
        } finally {
          await spooled.dispose();
        }
        room -= spooled.size;
        stored.push({ name: file.name, size: spooled.size, sha256: spooled.sha256 });
      },
      summary() {
        return stored.length + dropped.length === 0 ? undefined : { artifacts: stored, dropped };
      },
    };
  }

  /** The artifact `name` of an evaluation as its result lists it, or null; `range` as HTTP's (inclusive). */
  async open(evaluation: Evaluation, name: string, range?: ByteRange): Promise<OpenedArtifact | null> {
    const entry = evaluation.result?.artifacts?.find((artifact) => artifact.name === name);
    if (!entry) return null;
    const served = range
      ? { start: range.start, end: Math.min(range.end ?? entry.size - 1, entry.size - 1) }
      : null;
    const body = await this.#objects.get(artifactKey(evaluation.id, name), served ?? undefined);
    if (!body) return null;
    return { entry, contentType: artifactContentType(name), body, range: served };
  }
}
