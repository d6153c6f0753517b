export * from './event-bus.js';
export * from './store-feed.js';
