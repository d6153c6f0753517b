export * from './config.js';
export * from './webhook-flags.js';
