import { evaluate, parse } from '@marcbachmann/cel-js';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * What the API server does with a custom resource against its CRD's `openAPIV3Schema`: prune fields the
 * schema does not know (structural schemas), validate it (JSON schema, here with ajv), then run the CEL
 * rules (`x-kubernetes-validations`, here with @marcbachmann/cel-js), transition rules (those naming
 * `oldSelf`) only on updates where the old value exists. Failures are `causes` worded as the real server
 * words them (`spec.timeoutSeconds: Invalid value: 9999: spec.timeoutSeconds in body should be less than or
 * equal to 600`).
 */

export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string; messageExpression?: string }[];
  [keyword: string]: unknown;
}

export interface Cause {
  reason: string;
  message: string;
  field: string;
}

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('int64', true);
ajv.addFormat('int32', true);
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
const compiled = new WeakMap<Schema, ValidateFunction>();

/** Throws a description of the first rule that does not compile (the CRD is refused, as the server does). */
export function checkRules(schema: Schema, path = ''): void {
  for (const { rule } of schema['x-kubernetes-validations'] ?? []) {
    try {
      parse(rule);
    } catch (error) {
      throw new Error(`${path || '<root>'}: compilation failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  for (const [name, child] of Object.entries(schema.properties ?? {})) checkRules(child, `${path}.${name}`);
  if (schema.items) checkRules(schema.items, `${path}[*]`);
  if (typeof schema.additionalProperties === 'object') checkRules(schema.additionalProperties, `${path}[*]`);
}

/** Removes fields the schema does not declare, as the API server prunes them before storing. */
export function prune(value: unknown, schema: Schema): unknown {
  if (schema['x-kubernetes-preserve-unknown-fields']) return value;
  if (Array.isArray(value)) return schema.items ? value.map((v) => prune(v, schema.items!)) : value;
  if (!value || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(object)) {
    const declared = schema.properties?.[key];
    if (declared) out[key] = prune(child, declared);
    else if (typeof schema.additionalProperties === 'object')
      out[key] = prune(child, schema.additionalProperties);
    else if (schema.additionalProperties === true || !schema.properties) out[key] = child;
  }
  return out;
}

/** Paths of fields `prune` would drop: what `?fieldValidation=Strict` refuses (`unknown field "spec.x"`). */
export function unknownFields(value: unknown, schema: Schema, path = ''): string[] {
  if (schema['x-kubernetes-preserve-unknown-fields'] || !value || typeof value !== 'object') return [];
  if (Array.isArray(value)) {
    return schema.items ? value.flatMap((v, i) => unknownFields(v, schema.items!, `${path}[${i}]`)) : [];
  }
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const at = path ? `${path}.${key}` : key;
    const declared =
      schema.properties?.[key] ??
      (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (declared) return unknownFields(child, declared, at);
    return schema.additionalProperties === true || !schema.properties ? [] : [at];
  });
}

const dotted = (instancePath: string): string =>
  instancePath
    .split('/')
    .filter(Boolean)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');

const show = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value));

function causeOf(error: ErrorObject, root: unknown): Cause {
  let field = dotted(error.instancePath);
  const value = error.instancePath
    .split('/')
    .filter(Boolean)
    .reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      root,
    );
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      field = [field, String(params['missingProperty'])].filter(Boolean).join('.');
      return { reason: 'FieldValueRequired', message: 'Required value', field };
    case 'enum':
      return {
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${show(value)}: supported values: ${(params['allowedValues'] as unknown[]).map(show).join(', ')}`,
        field,
      };
    case 'maximum':
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${field} in body should be less than or equal to ${String(params['limit'])}`,
        field,
      };
    case 'minimum':
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${field} in body should be greater than or equal to ${String(params['limit'])}`,
        field,
      };
    case 'maxLength':
      return {
        reason: 'FieldValueTooLong',
        message: `Too long: may not be more than ${String(params['limit'])} bytes`,
        field,
      };
    case 'maxProperties':
      return {
        reason: 'FieldValueTooMany',
        message: `Too many: ${Object.keys(value as object).length}: must have at most ${String(params['limit'])} items`,
        field,
      };
    case 'type':
      return {
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: ${JSON.stringify(typeName(value))}: ${field} in body must be of type ${String(params['type'])}: ${JSON.stringify(typeName(value))}`,
        field,
      };
    case 'pattern':
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${field} in body should match '${String(params['pattern'])}'`,
        field,
      };
    default:
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${error.message ?? ''}`,
        field,
      };
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** JSON-schema and CEL failures of `object` (and, on update, against `old`); empty when it is valid. */
export function validate(schema: Schema, object: unknown, old: unknown | undefined): Cause[] {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = ajv.compile(schema)));
  if (!check(object)) return (check.errors ?? []).map((e) => causeOf(e, object));
  const causes: Cause[] = [];
  runRules(schema, object, old, '', causes);
  return causes;
}

function runRules(schema: Schema, value: unknown, old: unknown, path: string, causes: Cause[]): void {
  if (value === undefined || value === null) return;
  for (const { rule, message } of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule);
    if (transition && (old === undefined || old === null)) continue;
    let ok: unknown;
    try {
      ok = evaluate(rule, transition ? { self: value, oldSelf: old } : { self: value });
    } catch (error) {
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(typeName(value) === 'integer' ? 'integer' : typeName(value))}: rule evaluation failed: ${(error as Error).message}`,
        field: path,
      });
      continue;
    }
    if (ok !== true) {
      const kind = typeName(value) === 'number' ? 'number' : typeName(value);
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(kind)}: ${message ?? `failed rule: ${rule}`}`,
        field: path,
      });
    }
  }
  if (typeof value !== 'object') return;
  const current = value as Record<string, unknown>;
  const previous = old && typeof old === 'object' ? (old as Record<string, unknown>) : undefined;
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    runRules(child, current[key], previous?.[key], path ? `${path}.${key}` : key, causes);
  }
}

/** The 422 message: `<Kind>.<group> "<name>" is invalid: <field>: <message>`, several in brackets. */
export function invalidMessage(kind: string, group: string, name: string, causes: Cause[]): string {
  const parts = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  return `${kind}.${group} "${name}" is invalid: ${parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`}`;
}
