export * from './app.js';
export * from './streaming.js';
export { evaluationWebhookBody } from './routes/webhooks.js';
