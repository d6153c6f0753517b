export * from './claim-loop.js';
export * from './slots.js';
