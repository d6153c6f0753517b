import { Lease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import { StoreError, type KObject, type Resource, type UpdateStrategy } from './store.js';

/**
 * What the API server does with a `coordination.k8s.io/v1` Lease before storing it: decode the MicroTime
 * fields (`metav1.MicroTime` parses with `time.Parse(RFC3339Micro, …)`, which takes exactly six fractional
 * digits: `2006-01-02T15:04:05.000000Z07:00`; anything else fails decoding with 400 BadRequest), then
 * validate (`ValidateLeaseSpec`: leaseDurationSeconds > 0, leaseTransitions ≥ 0: 422 Invalid). Stored
 * times are re-encoded in UTC, as `MicroTime.MarshalJSON` does.
 */

/** The Lease registry strategy (pkg/registry/coordination/lease/strategy.go). */
const LEASE_STRATEGY: UpdateStrategy = { allowCreateOnUpdate: true, allowUnconditionalUpdate: false };

/**
 * Resources that answer PUT, with their registry strategy. The others answer 405: their update rules
 * (immutable ConfigMaps, a Job's immutable template…) are not modelled, and Crucible never updates them.
 */
export const UPDATABLE: Partial<Record<Resource, UpdateStrategy>> = { leases: LEASE_STRATEGY };

/** Decoding and registry validation before anything is stored (400 undecodable, 422 invalid). */
export function decode(resource: Resource, object: KObject): KObject {
  return resource === 'leases' ? admitLease(object) : object;
}

const MICRO_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/;

/** A MicroTime string in UTC with six digits, or null when the API server could not parse it. */
export function normaliseMicroTime(value: string): string | null {
  const match = MICRO_TIME.exec(value);
  if (!match) return null;
  const [, seconds, micros, zone] = match;
  if (zone === 'Z') return value;
  const utc = new Date(`${seconds}${zone}`);
  if (Number.isNaN(utc.getTime())) return null;
  return `${utc.toISOString().slice(0, 19)}.${micros}Z`;
}

/** Decodes and validates a Lease as the API server would; returns the object as it will be stored. */
export function admitLease(object: KObject): KObject {
  const spec = { ...(object.spec ?? {}) };
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const value = spec[field];
    if (value === undefined || value === null) continue;
    const normalised = typeof value === 'string' ? normaliseMicroTime(value) : null;
    if (normalised === null) {
      throw new StoreError(
        400,
        'BadRequest',
        `Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(value)} as ` +
          `"2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339Micro`,
      );
    }
    spec[field] = normalised;
  }
  const name = object.metadata?.name ?? '';
  const causes: { reason: string; message: string; field: string }[] = [];
  const duration = spec['leaseDurationSeconds'];
  if (typeof duration === 'number' && duration <= 0) {
    causes.push(invalid('spec.leaseDurationSeconds', duration, 'must be greater than 0'));
  }
  const transitions = spec['leaseTransitions'];
  if (typeof transitions === 'number' && transitions < 0) {
    causes.push(invalid('spec.leaseTransitions', transitions, 'must be greater than or equal to 0'));
  }
  try {
    new Lease(object as never).validate();
  } catch (error) {
    causes.push({ reason: 'FieldValueInvalid', message: String(error), field: 'spec' });
  }
  if (causes.length > 0) {
    throw new StoreError(
      422,
      'Invalid',
      `Lease.coordination.k8s.io "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
      { name, group: 'coordination.k8s.io', kind: 'Lease', causes },
    );
  }
  return { ...object, spec };
}

function invalid(field: string, value: unknown, why: string) {
  return { reason: 'FieldValueInvalid', message: `Invalid value: ${String(value)}: ${why}`, field };
}
