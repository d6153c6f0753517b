export * from './errors.js';
export * from './evaluation.js';
export * from './languages.js';
export * from './limits.js';
export * from './outcome.js';
export * from './priority.js';
export * from './state-machine.js';
export * from './status.js';
