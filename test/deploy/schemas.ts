import * as clientModels from '@kubernetes/client-node';
import type { KubeObject } from './render.js';

/**
 * Validation against the upstream OpenAPI schemas, in two parts:
 * - `kubernetes-models` (its validators are generated from the Kubernetes OpenAPI document): required fields,
 *   types, enums, formats;
 * - unknown fields, which those schemas allow but the API server refuses (`kubectl apply` asks for strict
 *   field validation since 1.27): a misspelt `replica:` would otherwise pass. The field names come from
 *   `@kubernetes/client-node`'s models, generated from the same OpenAPI document.
 */

type Validatable = new (data: unknown) => { validate(): void };

/** The model modules of the API groups deploy/ uses (a literal import each, so the bundler resolves them). */
const MODEL_MODULES: Record<string, () => Promise<Record<string, unknown>>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'batch/v1': () => import('kubernetes-models/batch/v1'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
  'rbac.authorization.k8s.io/v1': () => import('kubernetes-models/rbac.authorization.k8s.io/v1'),
  'networking.k8s.io/v1': () => import('kubernetes-models/networking.k8s.io/v1'),
  'scheduling.k8s.io/v1': () => import('kubernetes-models/scheduling.k8s.io/v1'),
  'node.k8s.io/v1': () => import('kubernetes-models/node.k8s.io/v1'),
  'coordination.k8s.io/v1': () => import('kubernetes-models/coordination.k8s.io/v1'),
  'apiextensions.k8s.io/v1': () => import('kubernetes-models/apiextensions.k8s.io/v1'),
};

async function modelClass(object: KubeObject): Promise<Validatable> {
  const load = MODEL_MODULES[object.apiVersion];
  if (!load) throw new Error(`add ${object.apiVersion} to MODEL_MODULES to validate ${object.kind}`);
  const model = (await load())[object.kind];
  if (typeof model !== 'function') throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  return model as Validatable;
}

/** Throws with the schema's message when the object does not validate. */
export async function validateSchema(object: KubeObject): Promise<void> {
  const Model = await modelClass(object);
  new Model(asTheServerReadsIt(object)).validate();
}

/**
 * kustomize wraps a long base64 value of a Secret over lines; the schema's `byte` format refuses the line
 * breaks, but the API server's decoder (Go's encoding/base64) skips them, so they are taken out first.
 */
function asTheServerReadsIt(object: KubeObject): KubeObject {
  const data = object['data'];
  if (object.kind !== 'Secret' || !data || typeof data !== 'object') return object;
  const joined = Object.entries(data as Record<string, string>).map(([k, v]) => [
    k,
    v.replace(/[\r\n]/g, ''),
  ]);
  return { ...object, data: Object.fromEntries(joined) };
}

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}

function attributesOf(typeName: string): readonly Attribute[] | null {
  const model = (clientModels as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>)[
    typeName
  ];
  return model?.attributeTypeMap ?? null;
}

/** client-node's model name of a top-level object: `batch/v1` `Job` → `V1Job`. */
function topLevelType(object: KubeObject): string {
  const version = object.apiVersion.split('/').pop()!;
  return `${version[0]!.toUpperCase()}${version.slice(1)}${object.kind}`;
}

function collect(value: unknown, type: string, at: string, unknown: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, i) => collect(item, array[1]!, `${at}[${i}]`, unknown));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [key, item] of Object.entries(value as object))
      collect(item, map[1]!, `${at}.${key}`, unknown);
    return;
  }
  const attributes = attributesOf(type);
  if (!attributes || typeof value !== 'object') return; // a scalar: kubernetes-models checks its type
  for (const [key, item] of Object.entries(value as object)) {
    const attribute = attributes.find((a) => a.baseName === key);
    if (attribute) collect(item, attribute.type, `${at}.${key}`, unknown);
    else unknown.push(`${at}.${key}`);
  }
}

/** Paths of fields the object's schema does not define (what strict field validation refuses). */
export function unknownFields(object: KubeObject): string[] {
  const type = topLevelType(object);
  if (!attributesOf(type)) throw new Error(`no field list for ${object.apiVersion} ${object.kind} (${type})`);
  const unknown: string[] = [];
  collect(object, type, object.kind, unknown);
  return unknown;
}
