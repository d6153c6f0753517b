export * from './object-store.js';
export * from './directory.js';
export * from './open.js';
export { parseS3Url, type S3Location } from './s3.js';
export * from './retry.js';
