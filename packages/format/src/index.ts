export * from './bf16.js';
export * from './container/index.js';
export * from './contract/types.js';
export * from './contract/validate.js';
export * from './safetensors/index.js';
export * from './tca-tbe/concat.js';
export * from './tca-tbe/layout.js';
