export * from './evaluation-service.js';
export * from './streams.js';
export * from './usage.js';
