import type { ServerConfigInput } from './config.js';

/**
 * The `crucible serve` options for the object store, artifacts, retention and disk pressure, in the CLI
 * parser's shape, and how they fold into the config (flags over the environment).
 */
export const STORAGE_SERVE_OPTIONS = [
  {
    flags: '--object-store <url>',
    description:
      'where artifacts and long logs go: s3://BUCKET[/PREFIX] or a directory (env CRUCIBLE_OBJECT_STORE; default <data-dir>/objects); S3 credentials from the usual AWS_* variables',
  },
  {
    flags: '--s3-endpoint <url>',
    description: 'an S3-compatible service (MinIO, Ceph…), addressed path-style (env CRUCIBLE_S3_ENDPOINT)',
  },
  {
    flags: '--artifacts-mb <n>',
    description:
      'default cap of the files kept from each evaluation’s /artifacts (env CRUCIBLE_ARTIFACTS_MB; 64)',
  },
  {
    flags: '--max-log-mb <n>',
    description:
      'largest maxLogBytes a submission may ask for, in MiB: output past the inline 1 MiB goes to the object store (env CRUCIBLE_MAX_LOG_MB; 256)',
  },
  {
    flags: '--retention <age>',
    description:
      'delete terminal evaluations older than this, with their logs and artifacts, e.g. 30d (env CRUCIBLE_RETENTION; default: keep all)',
  },
  {
    flags: '--retention-for <rule>',
    description:
      'a per-label or per-user retention over --retention, repeatable: label:KEY=VALUE=AGE or user:NAME=AGE, AGE e.g. 7d or forever (env CRUCIBLE_RETENTION_FOR, comma separated)',
    collect: { initial: [], add: (value: string, previous: unknown) => [...(previous as string[]), value] },
  },
  {
    flags: '--min-free-mb <n>',
    description:
      'refuse new work with 503 storage_full below this much free space on the data disk (env CRUCIBLE_MIN_FREE_MB; 256)',
  },
] as const;

export function withStorageFlags(
  input: ServerConfigInput,
  flags: Readonly<Record<string, unknown>>,
): ServerConfigInput {
  const text = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : undefined);
  const url = text('objectStore');
  const endpoint = text('s3Endpoint');
  const artifactsMb = text('artifactsMb');
  const maxLogMb = text('maxLogMb');
  const retention = text('retention');
  const minFreeMb = text('minFreeMb');
  const retentionFor = Array.isArray(flags['retentionFor']) ? (flags['retentionFor'] as string[]) : [];
  return {
    ...input,
    objects: {
      ...input.objects,
      ...(url !== undefined ? { url } : {}),
      ...(endpoint !== undefined ? { s3Endpoint: endpoint } : {}),
    },
    ...(artifactsMb !== undefined ? { limits: { ...input.limits, artifactsMb } } : {}),
    ...(maxLogMb !== undefined ? { bounds: { ...input.bounds, maxLogMb } } : {}),
    storage: {
      ...input.storage,
      ...(retention !== undefined ? { retention } : {}),
      ...(minFreeMb !== undefined ? { minFreeMb } : {}),
      ...(retentionFor.length > 0 ? { retentionFor } : {}),
    },
  } as ServerConfigInput;
}
