import { z } from 'zod';
import { gradingFields, gradingResultFields } from './grading-schemas.js';
import {
  DEFAULT_MAX_LOG_MB,
  LANGUAGE_IDS,
  PRIORITIES,
  PROJECT_LIMIT_BOUNDS,
  STATUSES,
  type LimitBounds,
} from '../core/index.js';

/** Kubernetes-compatible label syntax, since labels become Job labels on the Kubernetes backend. */
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;
export const MAX_LABELS = 16;
const LABEL_KEY_MESSAGE =
  'label keys are 1-63 characters: letters, digits, "-", "_", "." (alphanumeric at both ends)';

const wellFormed = (s: string) => s.isWellFormed();

/** A string of at most `maxBytes` UTF-8 bytes, with messages that name the field. */
function boundedText(field: string, maxBytes: number) {
  return z
    .string({ error: `${field} must be a string` })
    .refine((s) => Buffer.byteLength(s, 'utf8') <= maxBytes, {
      message: `${field} is larger than ${maxBytes} bytes`,
    });
}

/** A whole number within bounds, with messages that name the field and the range. */
function boundedInt(field: string, min: number, max: number) {
  const range = { error: `${field} must be between ${min} and ${max}` };
  return z
    .number({ error: `${field} must be a number` })
    .int({ error: `${field} must be a whole number` })
    .min(min, range)
    .max(max, range);
}

const isHttpUrl = (text: string) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
};

/** Where a terminal status is POSTed; the SSRF guard (the service) checks where it resolves to. */
const WebhookSchema = z.strictObject(
  {
    url: z
      .string({ error: 'webhook.url must be a string' })
      .max(2048, { error: 'webhook.url must be at most 2048 characters' })
      .refine(isHttpUrl, { message: 'webhook.url must be an absolute http:// or https:// URL' }),
  },
  { error: 'webhook must be an object: { "url": "https://…" }' },
);

/**
 * The one source of truth for a submission: validation, the TypeScript type and the OpenAPI document all come
 * from this schema. Bounds are configurable, so the schema is built from them.
 */
export function submissionSchema(bounds: LimitBounds) {
  return z.strictObject({
    language: z.enum(LANGUAGE_IDS, {
      error: () => `unknown language; supported: ${LANGUAGE_IDS.join(', ')}`,
    }),
    code: boundedText('code', bounds.maxCodeBytes)
      .refine((s) => !s.includes('\0'), { message: 'code must not contain NUL bytes' })
      .refine(wellFormed, { message: 'code must be valid UTF-8 (no lone surrogates)' }),
    stdin: boundedText('stdin', bounds.maxStdinBytes)
      .refine(wellFormed, { message: 'stdin must be valid UTF-8 (no lone surrogates)' })
      .optional(),
    timeoutSeconds: boundedInt(
      'timeoutSeconds',
      bounds.minTimeoutSeconds,
      bounds.maxTimeoutSeconds,
    ).optional(),
    memoryMb: boundedInt('memoryMb', bounds.minMemoryMb, bounds.maxMemoryMb).optional(),
    priority: z.enum(PRIORITIES, { error: 'priority must be one of low, normal, high' }).optional(),
    labels: z
      .record(
        z.string().regex(LABEL_KEY, { error: LABEL_KEY_MESSAGE }),
        z.string({ error: 'label values must be strings' }).regex(LABEL_VALUE, {
          error:
            'label values are 0-63 characters: letters, digits, "-", "_", "." (alphanumeric at both ends)',
        }),
        {
          // A bad key surfaces as the record's own issue (invalid_key): name the key rule, not the record's.
          error: (issue) =>
            issue.code === 'invalid_key' ? LABEL_KEY_MESSAGE : 'labels must be an object of string values',
        },
      )
      .refine((labels) => Object.keys(labels).length <= MAX_LABELS, {
        message: `at most ${MAX_LABELS} labels`,
      })
      .optional(),
    /** A project id (`POST /v1/projects`); an unknown one answers 404 naming `project`. */
    project: z
      .string({ error: 'project must be a project id (a string)' })
      .min(1, { error: 'project must be a project id' })
      .max(200, { error: 'project must be at most 200 characters' })
      .optional(),
    /** POSTed the evaluation, signed, at its terminal status (docs/webhooks.md). */
    webhook: WebhookSchema.optional(),
    /** Cap of the files kept from `/artifacts` (docs/artifacts.md). */
    artifactsMb: boundedInt('artifactsMb', 0, bounds.maxArtifactsMb ?? 1024).optional(),
    /** Output kept per stream; past the inline prefix it goes to the object store (docs/artifacts.md). */
    maxLogBytes: boundedInt(
      'maxLogBytes',
      0,
      (bounds.maxLogMb ?? DEFAULT_MAX_LOG_MB) * 1024 * 1024,
    ).optional(),
    /** Extra files, test cases and how outputs are compared (docs/languages.md). */
    ...gradingFields(bounds),
  });
}

export type SubmissionBody = z.infer<ReturnType<typeof submissionSchema>>;

export const ArtifactSchema = z.object({ name: z.string(), size: z.number(), sha256: z.string() });
export const DroppedArtifactSchema = z.object({
  name: z.string(),
  size: z.number(),
  reason: z.enum(['over_cap', 'too_many', 'invalid_name', 'not_regular_file', 'store_failed']),
});

export const TimingsSchema = z.object({
  submittedAt: z.string(),
  dispatchedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  storedAt: z.string().nullable(),
  /** Platform stages (Kubernetes): null where the backend has no such stage or has not reached it. */
  jobCreatedAt: z.string().nullable(),
  podScheduledAt: z.string().nullable(),
  containerStartedAt: z.string().nullable(),
  containerFinishedAt: z.string().nullable(),
});

/** Derived from `timings` (ms): null for a stage not completed. */
export const DurationsSchema = z.object({
  queueMs: z.number().nullable(),
  startMs: z.number().nullable(),
  runMs: z.number().nullable(),
  storeMs: z.number().nullable(),
  totalMs: z.number().nullable(),
});

export const ResultSchema = z.object({
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  /** False when output the program wrote was lost on the way; `message` says so. */
  outputComplete: z.boolean(),
  durationMs: z.number().nullable(),
  cpuTimeMs: z.number().nullable(),
  peakMemoryBytes: z.number().nullable(),
  memoryEnforcement: z.string().nullable(),
  /** Files kept from `/artifacts` (docs/artifacts.md); absent when there were none. */
  artifacts: z.array(ArtifactSchema).readonly().optional(),
  /** Files found in `/artifacts` and not kept, and why; absent when none. */
  artifactsDropped: z.array(DroppedArtifactSchema).readonly().optional(),
  /** Output past the inline prefix, in the object store: read it through the logs endpoint after `afterSeq`. */
  logSpill: z
    .object({ afterSeq: z.number(), chunkBytes: z.number(), stdout: z.number(), stderr: z.number() })
    .optional(),
  ...gradingResultFields,
});

export const EvaluationSchema = z.object({
  id: z.string(),
  status: z.enum(STATUSES),
  language: z.string(),
  priority: z.enum(PRIORITIES),
  labels: z.record(z.string(), z.string()),
  runtime: z.string(),
  /** The project id; absent on an evaluation of no project. */
  project: z.string().optional(),
  /** Who submitted it; null when it was submitted while authentication was off. */
  user: z.string().nullable(),
  limits: z.object({
    timeoutSeconds: z.number(),
    memoryMb: z.number(),
    maxProcesses: z.number(),
    maxOutputBytes: z.number(),
    tmpSizeMb: z.number(),
    artifactsMb: z.number().optional(),
    maxLogBytes: z.number().optional(),
  }),
  createdAt: z.string(),
  result: ResultSchema.nullable(),
  timings: TimingsSchema,
  durations: DurationsSchema,
});

export const ListItemSchema = EvaluationSchema.extend({
  result: ResultSchema.omit({ stdout: true, stderr: true }).nullable(),
  /** Always false: list items never carry output (read it from the evaluation or its logs). */
  outputIncluded: z.literal(false),
});

/** Printable ASCII, as Stripe and the IETF draft expect; long enough for a UUID or a content hash. */
export const IdempotencyHeadersSchema = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, {
      error: 'idempotency-key must be 1 to 255 printable ASCII characters without spaces',
    })
    .optional(),
});

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().nullable() }),
});

export const IdParamsSchema = z.strictObject({ id: z.string().min(1).max(200) });

/** `?wait=N`: hold the answer up to N seconds until the evaluation is terminal. */
function waitSeconds() {
  return z.coerce
    .number({ error: 'wait must be a number of seconds' })
    .min(0, { error: 'wait must be between 0 and 300 seconds' })
    .max(300, { error: 'wait must be between 0 and 300 seconds' })
    .optional();
}

export const SubmitQuerySchema = z.strictObject({
  /** Answer once the evaluation is terminal (headers at once, the body then). */
  wait: waitSeconds(),
  /** Also show the evaluation as an `Evaluation` object in this namespace (the server runs with `--crd`). */
  mirror: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
      error: 'mirror must be a namespace name: a DNS label of at most 63 lower-case letters, digits and "-"',
    })
    .optional(),
});

export const WaitQuerySchema = z.strictObject({ wait: waitSeconds() });

export const ListQuerySchema = z
  .strictObject({
    status: z.enum(STATUSES, { error: `status must be one of ${STATUSES.join(', ')}` }).optional(),
    label: z
      .string()
      .regex(/^[^=]+=[^=]*$/, { error: 'label filter is key=value' })
      .optional(),
    limit: z.coerce
      .number()
      .int()
      .min(1, { error: 'limit must be between 1 and 500' })
      .max(500, { error: 'limit must be between 1 and 500' })
      .default(50),
    cursor: z.string().max(200).optional(),
    project: z.string().min(1).max(200, { error: 'project must be at most 200 characters' }).optional(),
    /** Only this batch's evaluations (`POST /v1/batches`), newest (last item) first; `status` still filters. */
    batch: z.string().min(1).max(200, { error: 'batch must be at most 200 characters' }).optional(),
    /** Only this user's evaluations (admins; a user may name only themselves). */
    user: z.string().min(1).max(200, { error: 'user must be at most 200 characters' }).optional(),
  })
  // A batch's listing filters by status only: refusing the others beats silently ignoring them.
  .refine((q) => q.batch === undefined || (q.label ?? q.project ?? q.user) === undefined, {
    error: 'batch can be combined with status only, not with label, project or user',
    path: ['batch'],
  });

export const LogsQuerySchema = z.strictObject({
  follow: z
    .enum(['true', 'false', '1', '0'], { error: 'follow must be true or false' })
    .optional()
    .transform((v) => v === 'true' || v === '1'),
  stream: z
    .enum(['stdout', 'stderr', 'all'], { error: 'stream must be stdout, stderr or all' })
    .default('all'),
  after: z.coerce.number().int().min(0).optional(),
});

export const QueueSchema = z.object({
  queued: z.object({ high: z.number(), normal: z.number(), low: z.number() }),
  running: z.number(),
  /** Queued evaluations whose Job waits, suspended, for Kueue (also in `queued`; each holds a slot). */
  awaitingAdmission: z.number(),
  capacity: z.number(),
  /** The replica that answered: its own slots, and whether it runs work (false: a follower, API only). */
  replica: z.object({ id: z.string(), running: z.number(), slots: z.number(), working: z.boolean() }),
});

export const TransitionSchema = z.object({
  seq: z.number(),
  evaluationId: z.string(),
  from: z.enum(STATUSES).nullable(),
  to: z.enum(STATUSES),
  at: z.string(),
  reason: z.string().nullable(),
});

/** A bounded number, with messages that name the field and the range (as `boundedInt` does). */
function boundedNumber(field: string, min: number, max: number, integer: boolean) {
  const range = { error: `${field} must be between ${min} and ${max}` };
  const number = z.number({ error: `${field} must be a number` });
  return (integer ? number.int({ error: `${field} must be a whole number` }) : number)
    .min(min, range)
    .max(max, range);
}

const { memoryMb, maxConcurrent, cpu, egress } = PROJECT_LIMIT_BOUNDS;

/** A project name: a DNS label, so it can name Kubernetes objects and labels as it is. */
const PROJECT_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const ProjectLimitsSchema = z.strictObject({
  memoryMb: boundedNumber('limits.memoryMb', memoryMb.min, memoryMb.max, true).optional(),
  maxConcurrent: boundedNumber('limits.maxConcurrent', maxConcurrent.min, maxConcurrent.max, true).optional(),
  cpu: boundedNumber('limits.cpu', cpu.min, cpu.max, false).optional(),
});

export const NewProjectSchema = z.strictObject({
  name: z.string({ error: 'name must be a string' }).regex(PROJECT_NAME, {
    error: 'name is 1-63 characters: lower-case letters, digits and "-" (alphanumeric at both ends)',
  }),
  limits: ProjectLimitsSchema.optional(),
  egress: z
    .array(z.union([z.cidrv4(), z.cidrv6()], { error: 'egress entries must be CIDRs such as 10.0.0.0/8' }), {
      error: 'egress must be a list of CIDRs',
    })
    .max(egress.max, { error: `egress holds at most ${egress.max} CIDRs` })
    .optional(),
});

export const ProjectSchema = z.object({
  id: z.string(),
  name: z.string(),
  namespace: z.string(),
  limits: z.object({
    memoryMb: z.number().optional(),
    maxConcurrent: z.number().optional(),
    cpu: z.number().optional(),
  }),
  egress: z.array(z.string()),
  createdAt: z.string(),
});
