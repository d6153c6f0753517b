/**
 * Files a program leaves in `/artifacts`, collected when it ends (docs/artifacts.md). Pure: names, caps and
 * the summary the result carries; the runtimes collect and the service stores.
 */

/** One stored artifact, as `result.artifacts` lists it. */
export interface ArtifactEntry {
  /** The path below `/artifacts`, `/`-separated (e.g. `plots/loss.png`). */
  readonly name: string;
  readonly size: number;
  /** Hex SHA-256 of the stored bytes. */
  readonly sha256: string;
}

/** `store_failed`: the object store kept failing (or failed for good) after the retries; the run goes on. */
export type ArtifactDropReason =
  'over_cap' | 'too_many' | 'invalid_name' | 'not_regular_file' | 'store_failed';

/** A file found in `/artifacts` and not stored, and why (`result.artifactsDropped`). */
export interface DroppedArtifact {
  readonly name: string;
  readonly size: number;
  readonly reason: ArtifactDropReason;
}

export interface ArtifactsSummary {
  readonly artifacts: readonly ArtifactEntry[];
  readonly dropped: readonly DroppedArtifact[];
}

/** Default cap of one evaluation's `/artifacts` (its total stored bytes), and the bound a submission may ask. */
export const DEFAULT_ARTIFACTS_MB = 64;
export const MAX_ARTIFACT_FILES = 1000;

/**
 * Whether a collected name may become part of an object key: relative, `/`-separated, no empty, `.` or `..`
 * segment, no control characters, at most 512 bytes. Names come from the program, so this is a security check.
 */
export function validArtifactName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 512 &&
    ![...name].some((char) => char.charCodeAt(0) < 0x20 || char === '\u007f' || char === '\\') &&
    name.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..')
  );
}

/** Where an evaluation's artifact lives in the object store. */
export function artifactKey(evaluationId: string, name: string): string {
  return `evaluations/${evaluationId}/artifacts/${name}`;
}

/** Every object of one evaluation lives under this prefix (artifacts, logs past the inline cap). */
export function evaluationObjectsPrefix(evaluationId: string): string {
  return `evaluations/${evaluationId}/`;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  webp: 'image/webp',
  pdf: 'application/pdf',
  json: 'application/json',
  csv: 'text/csv; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  html: 'text/html; charset=utf-8',
  xml: 'application/xml',
  zip: 'application/zip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  npy: 'application/octet-stream',
};

/** The content type an artifact is served with, from its extension (octet-stream when unknown). */
export function artifactContentType(name: string): string {
  const dot = name.lastIndexOf('.');
  const extension = dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}
