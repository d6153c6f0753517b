export { WebhookDeliveries, type DeliveryLog, type WebhookDeliveriesOptions } from './deliveries.js';
export { secretProblem, standardSigner, type Sign } from './signer.js';
export { checkTarget, TargetRefused, type CheckedTarget, type LookupAll } from './target-guard.js';
