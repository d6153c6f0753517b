export * from './object-store.js';
export * from './directory.js';
