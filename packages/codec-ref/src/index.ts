export * from './codec/index.js';
export * from './reference/index.js';
export * from './backend/index.js';
export * from './conformance/index.js';
export * from './model/index.js';
