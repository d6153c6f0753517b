export * from './app.js';
export * from './streaming.js';
