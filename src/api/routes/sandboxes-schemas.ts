import { z } from 'zod';
import { DEFAULT_BOUNDS, LANGUAGE_IDS } from '../../core/index.js';
import { SANDBOX_STATUSES } from '../../store/sandboxes.js';

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function int(field: string, min: number, max: number) {
  const range = { error: `${field} must be between ${min} and ${max}` };
  return z
    .number({ error: `${field} must be a number` })
    .int({ error: `${field} must be a whole number` })
    .min(min, range)
    .max(max, range);
}

function stringMap(field: string, key: RegExp, keyMessage: string, max: number, maxValueBytes: number) {
  return z
    .record(
      z.string().regex(key, { error: keyMessage }),
      z.string({ error: `${field} values must be strings` }),
      {
        error: `${field} must be an object of strings`,
      },
    )
    .refine((m) => Object.keys(m).length <= max, { message: `${field} has more than ${max} entries` })
    .refine((m) => Object.values(m).every((v) => Buffer.byteLength(v) <= maxValueBytes), {
      message: `${field} values are at most ${maxValueBytes} bytes`,
    });
}

export const NewSandboxSchema = z.strictObject({
  language: z
    .enum(LANGUAGE_IDS, { error: () => `unknown language; supported: ${LANGUAGE_IDS.join(', ')}` })
    .optional(),
  memoryMb: int('memoryMb', DEFAULT_BOUNDS.minMemoryMb, DEFAULT_BOUNDS.maxMemoryMb).optional(),
  workspaceMb: int('workspaceMb', 16, 8192).optional(),
  idleTimeoutSeconds: int('idleTimeoutSeconds', 5, 7 * 24 * 3600).optional(),
  maxLifetimeSeconds: int('maxLifetimeSeconds', 10, 30 * 24 * 3600).optional(),
  labels: stringMap('labels', LABEL, 'label keys are 1-63 letters, digits, "-", "_", "."', 16, 63).optional(),
  env: stringMap(
    'env',
    ENV_NAME,
    'env names are letters, digits and "_", not starting with a digit',
    128,
    32 * 1024,
  ).optional(),
  project: z.string().min(1).max(200).optional(),
  files: z
    .array(
      z.strictObject({
        path: z.string().min(1, { error: 'files.path must not be empty' }).max(4096),
        content: z.string({ error: 'files.content must be a string' }),
        encoding: z.enum(['utf8', 'base64']).optional(),
        mode: int('files.mode', 0, 0o7777).optional(),
      }),
    )
    .max(1000, { error: 'files has more than 1000 entries' })
    .optional(),
});

export const ExecSchema = z.strictObject({
  command: z.union([
    z.array(z.string(), { error: 'command must be an array of strings or a shell string' }).min(1, {
      error: 'command must not be empty',
    }),
    z.string().min(1, { error: 'command must not be empty' }),
  ]),
  stdin: z
    .string()
    .refine((s) => Buffer.byteLength(s) <= DEFAULT_BOUNDS.maxStdinBytes, {
      message: `stdin is larger than ${DEFAULT_BOUNDS.maxStdinBytes} bytes`,
    })
    .optional(),
  timeoutSeconds: int('timeoutSeconds', 1, 3600).optional(),
  cwd: z.string().max(4096).optional(),
  env: stringMap(
    'env',
    ENV_NAME,
    'env names are letters, digits and "_", not starting with a digit',
    128,
    32 * 1024,
  ).optional(),
});

export const ExecQuerySchema = z.strictObject({
  wait: z.enum(['true', 'false'], { error: 'wait must be true or false' }).optional(),
});

export const SandboxParams = z.strictObject({ id: z.string().min(1).max(200) });
export const ExecParams = z.strictObject({
  id: z.string().min(1).max(200),
  execId: z.string().min(1).max(200),
});

export const LogsQuery = z.strictObject({
  after: z.coerce
    .number({ error: 'after must be a number' })
    .int()
    .min(0, { error: 'after must be at least 0' })
    .optional(),
});

export const ListQuery = z.strictObject({ status: z.enum(SANDBOX_STATUSES).optional() });

export const FilesQuery = z.strictObject({
  path: z.string({ error: 'path is required' }).max(4096),
  list: z.enum(['true', 'false']).optional(),
  glob: z.string().min(1).max(1024).optional(),
  grep: z.string().min(1).max(1024).optional(),
  recursive: z.enum(['true', 'false']).optional(),
});

export const PtyQuery = z.strictObject({
  session: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'session is 1-64 letters, digits, "_" or "-"' })
    .optional(),
  cols: z.coerce.number().int().min(1).max(1000).optional(),
  rows: z.coerce.number().int().min(1).max(1000).optional(),
});

export const SandboxSchema = z.object({
  id: z.string(),
  status: z.enum(SANDBOX_STATUSES),
  language: z.string(),
  user: z.string().nullable(),
  project: z.string().nullable(),
  memoryMb: z.number(),
  workspaceMb: z.number(),
  idleTimeoutSeconds: z.number(),
  maxLifetimeSeconds: z.number().nullable(),
  labels: z.record(z.string(), z.string()),
  envKeys: z.array(z.string()),
  runtime: z.string(),
  snapshotBytes: z.number().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  lastActiveAt: z.string(),
  hibernatedAt: z.string().nullable(),
  terminatedAt: z.string().nullable(),
});
