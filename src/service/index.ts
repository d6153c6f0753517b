export * from './evaluation-service.js';
export * from './streams.js';
