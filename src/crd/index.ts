export {
  EVALUATION_API_VERSION,
  EVALUATION_GROUP,
  EVALUATION_KIND,
  EVALUATION_PLURAL,
  EVALUATION_VERSION,
  MIRRORED_ANNOTATION,
  STATUS_OUTPUT_BYTES,
  evaluationCrd,
} from './definition.js';
export { createEvaluationApi, type EvaluationApi, type EvaluationObject } from './client.js';
export {
  CANCEL_FINALIZER,
  EvaluationController,
  type ControllerService,
  type EvaluationControllerOptions,
} from './controller.js';
export {
  phaseOf,
  statusFor,
  truncateUtf8,
  type EvaluationObjectStatus,
  type EvaluationPhase,
} from './status.js';
export { createEvaluationMirror, mirrorNameOf } from './mirror.js';
