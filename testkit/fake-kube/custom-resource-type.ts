import { invalidMessage, prune, unknownFields, validate, type Schema } from './crd-schema.js';
import { StoreError, type KObject, type Resource } from './store.js';
import type { PrinterColumn } from './table.js';

/** The part of a stored CustomResourceDefinition the fake serves. */
export interface Crd extends KObject {
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[] };
    versions: CrdVersion[];
  };
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: Schema };
  subresources?: { status?: object };
  additionalPrinterColumns?: PrinterColumn[];
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
/** Everything but metadata and status: what bumps `metadata.generation` when it changes. */
const specPart = (o: KObject) => JSON.stringify({ ...o, metadata: undefined, status: undefined });

/**
 * One served version of a custom resource: its names, errors worded as the API server words them, and the
 * registry strategy (apiextensions `customResourceStrategy`): pruning and validation, status dropped on
 * create and kept from the stored object on main-resource writes when the status subresource is on,
 * everything but the status kept on `/status` writes, generation 1 on create and +1 on spec changes.
 */
export class CustomResourceType {
  readonly key: Resource;
  readonly kind: string;
  readonly apiVersion: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly columns: PrinterColumn[] | undefined;
  private readonly qualified: string;
  private readonly hasStatus: boolean;
  private readonly schema: Schema;

  constructor(
    private readonly crd: Crd,
    version: CrdVersion,
  ) {
    this.key = `cr:${crd.spec.group}/${crd.spec.names.plural}` as Resource;
    this.kind = crd.spec.names.kind;
    this.apiVersion = `${crd.spec.group}/${version.name}`;
    this.listKind = crd.spec.names.listKind ?? `${this.kind}List`;
    this.namespaced = crd.spec.scope === 'Namespaced';
    this.columns = version.additionalPrinterColumns;
    this.qualified = `${crd.spec.names.plural}.${crd.spec.group}`;
    this.hasStatus = Boolean(version.subresources?.status);
    this.schema = version.schema?.openAPIV3Schema ?? {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    };
  }

  private details(name: string) {
    return { name, group: this.crd.spec.group, kind: this.crd.spec.names.plural };
  }

  notFound(name: string): StoreError {
    return new StoreError(404, 'NotFound', `${this.qualified} "${name}" not found`, this.details(name));
  }

  alreadyExists(name: string): StoreError {
    return new StoreError(
      409,
      'AlreadyExists',
      `${this.qualified} "${name}" already exists`,
      this.details(name),
    );
  }

  conflict(name: string): StoreError {
    return new StoreError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${this.qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      this.details(name),
    );
  }

  invalid(name: string, field: string, message: string): StoreError {
    return new StoreError(
      422,
      'Invalid',
      `${this.kind}.${this.crd.spec.group} "${name}" is invalid: ${field}: ${message}`,
    );
  }

  /** Pruned and validated against the schema (and its CEL rules, transition rules against `old`); 422 otherwise. */
  private admit(object: KObject, old: KObject | undefined, strict: boolean): KObject {
    // metadata is the server's own (ObjectMeta), not the CRD schema's.
    const unknown = strict ? unknownFields({ ...object, metadata: undefined }, this.schema) : [];
    if (unknown.length > 0) {
      throw new StoreError(
        400,
        'BadRequest',
        `${this.kind} in version "${this.apiVersion.split('/')[1]}" cannot be handled as a ${this.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`,
      );
    }
    const pruned = prune(object, this.schema) as KObject;
    pruned.metadata = object.metadata;
    const causes = validate(this.schema, pruned, old);
    if (causes.length > 0) {
      const name = object.metadata.name;
      throw new StoreError(422, 'Invalid', invalidMessage(this.kind, this.crd.spec.group, name, causes), {
        name,
        group: this.crd.spec.group,
        kind: this.kind,
        causes,
      });
    }
    return { ...pruned, apiVersion: this.apiVersion, kind: this.kind };
  }

  /** The object a create stores. */
  forCreate(input: KObject, namespace: string, strict = false): KObject {
    input.metadata = { ...(input.metadata ?? {}), namespace } as KObject['metadata'];
    if (!input.metadata.name && !input.metadata.generateName) {
      throw this.invalid('', 'metadata.name', 'Required value: name or generateName is required');
    }
    const object = this.admit(input, undefined, strict);
    if (this.hasStatus) delete object.status;
    (object.metadata as Record<string, unknown>)['generation'] = 1;
    return object;
  }

  /** The object an update (of the main resource, or of `/status`) stores in place of `current`. */
  forUpdate(current: KObject, sent: KObject, status: boolean, strict = false): KObject {
    let next: KObject;
    if (status) {
      next = { ...clone(current), status: sent.status };
      if (next.status === undefined) delete next.status;
    } else {
      const { uid, creationTimestamp, namespace, name } = current.metadata;
      next = { ...sent, metadata: { ...sent.metadata, name, namespace, uid, creationTimestamp } };
      if (this.hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
    }
    const admitted = this.admit(next, current, strict);
    const generation = Number((current.metadata as Record<string, unknown>)['generation'] ?? 1);
    const bumped = !status && specPart(admitted) !== specPart(current);
    (admitted.metadata as Record<string, unknown>)['generation'] = bumped ? generation + 1 : generation;
    admitted.metadata.resourceVersion = current.metadata.resourceVersion;
    if (current.metadata.deletionTimestamp)
      admitted.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    return admitted;
  }
}
