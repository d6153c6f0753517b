import { createHash } from 'node:crypto';

export const LABEL_PREFIX = 'crucible.dev';
export const EVALUATION_LABEL = `${LABEL_PREFIX}/evaluation`;
export const EVALUATION_ANNOTATION = `${LABEL_PREFIX}/evaluation-id`;
export const USER_LABEL = `${LABEL_PREFIX}/user`;
export const PRIORITY_LABEL = `${LABEL_PREFIX}/priority`;
/** The project id on a project's namespace, its objects, Jobs and pods. */
export const PROJECT_LABEL = `${LABEL_PREFIX}/project-id`;
export const MANAGED_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_VALUE = 'crucible';
export const COST_LABEL_PREFIX = 'cost.crucible.dev';
export const MAIN_CONTAINER = 'main';

function shortHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}

/**
 * A label value (≤ 63 chars, alphanumeric at both ends, `[-._a-zA-Z0-9]` inside) that stays unique: when the
 * raw value must be altered to fit, a hash of the raw value is appended so two ids never collide.
 */
export function labelValue(raw: string): string {
  if (/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(raw)) return raw;
  const cleaned = raw.replace(/[^-A-Za-z0-9_.]/g, '-').slice(0, 50);
  const trimmed = cleaned.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  return trimmed ? `${trimmed}-${shortHash(raw)}` : shortHash(raw);
}

/** The one label value identifying an evaluation's objects. */
export function evaluationLabel(evaluationId: string): string {
  return labelValue(evaluationId);
}

/**
 * The Job name is a function of the evaluation id: unique per evaluation, and the same on every attempt, so a
 * create repeated after a crash answers 409 instead of running the program twice. ≤ 58 chars so the
 * controller's pod suffix and the `job-name` label (≤ 63) fit.
 */
export function jobName(evaluationId: string): string {
  const dns = evaluationId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `crucible-${dns ? `${dns}-` : ''}${shortHash(evaluationId)}`;
}

/** Names of the payload ConfigMaps of one evaluation. */
export function payloadName(evaluationId: string, index: number): string {
  return `${jobName(evaluationId)}-p${index}`;
}

/** A label key `cost.crucible.dev/<name>` when `name` is a valid label name, else null (dropped). */
export function costLabelKey(name: string): string | null {
  return /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(name) ? `${COST_LABEL_PREFIX}/${name}` : null;
}
