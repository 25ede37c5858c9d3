// The reference backend (pure TypeScript ZipservBackendV1) and its provider.
export { type RefBackendOptions, type RefWeightPath, createRefBackend } from './ref-backend.js';
export { refBackendProvider } from './provider.js';
