import { DEFAULT_BOUNDS, LANGUAGE_IDS, PRIORITIES, type LimitBounds } from '../core/index.js';

/** The `Evaluation` custom resource: `crucible.dev/v1alpha1`, namespaced, `spec` = the submission body. */
export const EVALUATION_GROUP = 'crucible.dev';
export const EVALUATION_VERSION = 'v1alpha1';
export const EVALUATION_PLURAL = 'evaluations';
export const EVALUATION_KIND = 'Evaluation';
export const EVALUATION_API_VERSION = `${EVALUATION_GROUP}/${EVALUATION_VERSION}`;
/** On an object that mirrors an HTTP submission: the evaluation it shows (the controller adopts it). */
export const MIRRORED_ANNOTATION = 'crucible.dev/evaluation-id';

/**
 * Bytes of stdout and of stderr copied into `status` (the full output stays in Crucible: `GET
 * /v1/evaluations/{id}/logs`). An object is stored in etcd whole and re-sent on every watch event, so the
 * status holds a preview, not the output.
 */
export const STATUS_OUTPUT_BYTES = 4096;

/** Label syntax of the HTTP API (`src/api/schemas.ts`), since labels become Job labels. */
const LABEL_VALUE = '^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$';
const MAX_LABELS = 16;

const dateTime = { type: 'string', format: 'date-time', nullable: true } as const;

/**
 * The CustomResourceDefinition, built from the server's bounds so the API server refuses what the HTTP API
 * would refuse: bounds in the OpenAPI schema, the language list and immutability as CEL rules
 * (`x-kubernetes-validations`), so no admission webhook is needed. Label keys and the byte (not character)
 * size of code and stdin are checked again by the controller, which reports a refused spec in `status`.
 */
export function evaluationCrd(bounds: LimitBounds = DEFAULT_BOUNDS) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${EVALUATION_PLURAL}.${EVALUATION_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'crucible', 'app.kubernetes.io/managed-by': 'crucible' },
    },
    spec: {
      group: EVALUATION_GROUP,
      scope: 'Namespaced',
      names: {
        plural: EVALUATION_PLURAL,
        singular: 'evaluation',
        kind: EVALUATION_KIND,
        listKind: `${EVALUATION_KIND}List`,
        shortNames: ['eval'],
        categories: ['crucible'],
      },
      versions: [
        {
          name: EVALUATION_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Exit', type: 'integer', jsonPath: '.status.exitCode' },
            { name: 'Duration', type: 'string', jsonPath: '.status.duration' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'One run of untrusted code in a Crucible sandbox.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(bounds),
                status: statusSchema(),
              },
            },
          },
        },
      ],
    },
  };
}

export type EvaluationCrd = ReturnType<typeof evaluationCrd>;

function specSchema(bounds: LimitBounds) {
  return {
    type: 'object',
    description: 'The submission, as POST /v1/evaluations takes it. Immutable once created.',
    required: ['language', 'code'],
    'x-kubernetes-validations': [
      {
        rule: 'self == oldSelf',
        message: 'spec is immutable: delete the Evaluation and create a new one',
      },
    ],
    properties: {
      language: {
        type: 'string',
        // Bounded so the API server's CEL cost estimate of the rule below stays small.
        maxLength: 32,
        'x-kubernetes-validations': [
          {
            rule: `self in [${LANGUAGE_IDS.map((id) => `'${id}'`).join(', ')}]`,
            message: `unknown language; supported: ${LANGUAGE_IDS.join(', ')}`,
          },
        ],
      },
      code: { type: 'string', maxLength: bounds.maxCodeBytes },
      stdin: { type: 'string', maxLength: bounds.maxStdinBytes },
      timeoutSeconds: {
        type: 'integer',
        minimum: bounds.minTimeoutSeconds,
        maximum: bounds.maxTimeoutSeconds,
      },
      memoryMb: { type: 'integer', minimum: bounds.minMemoryMb, maximum: bounds.maxMemoryMb },
      priority: { type: 'string', enum: [...PRIORITIES] },
      labels: {
        type: 'object',
        maxProperties: MAX_LABELS,
        additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE },
      },
      // As the HTTP API's `webhook`: POSTed the evaluation, signed, at its terminal status (docs/webhooks.md).
      // The SSRF check (the address the host resolves to) is the service's, at submission.
      webhook: {
        type: 'object',
        required: ['url'],
        properties: {
          url: {
            type: 'string',
            maxLength: 2048,
            'x-kubernetes-validations': [
              {
                rule: "self.startsWith('https://') || self.startsWith('http://')",
                message: 'webhook.url must be an absolute http:// or https:// URL',
              },
            ],
          },
        },
      },
    },
  };
}

function statusSchema() {
  return {
    type: 'object',
    description: 'Written by the Crucible controller through the status subresource.',
    properties: {
      phase: {
        type: 'string',
        enum: ['Queued', 'Starting', 'Running', 'Succeeded', 'Failed', 'TimedOut', 'Cancelled', 'Error'],
      },
      evaluationId: { type: 'string' },
      observedGeneration: { type: 'integer', format: 'int64' },
      exitCode: { type: 'integer', nullable: true },
      signal: { type: 'string', nullable: true },
      reason: { type: 'string', nullable: true },
      message: { type: 'string', nullable: true },
      submittedAt: dateTime,
      startedAt: dateTime,
      finishedAt: dateTime,
      durationMs: { type: 'integer', nullable: true },
      duration: { type: 'string', nullable: true },
      stdout: { type: 'string', maxLength: STATUS_OUTPUT_BYTES },
      stderr: { type: 'string', maxLength: STATUS_OUTPUT_BYTES },
      stdoutTruncated: { type: 'boolean' },
      stderrTruncated: { type: 'boolean' },
      conditions: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        items: {
          type: 'object',
          required: ['type', 'status', 'lastTransitionTime'],
          properties: {
            type: { type: 'string' },
            status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
            reason: { type: 'string' },
            message: { type: 'string' },
            lastTransitionTime: { type: 'string', format: 'date-time' },
            observedGeneration: { type: 'integer', format: 'int64' },
          },
        },
      },
    },
  };
}
