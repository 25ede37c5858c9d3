// zipserv-container/1: compressed safetensors files (schema, validation, components, checksums).
export * from './schema.js';
export * from './errors.js';
export * from './base64.js';
export * from './components.js';
export * from './metadata.js';
export * from './checksums.js';
