export * from './priority-queue.js';
export * from './scheduler.js';
