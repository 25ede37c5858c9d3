// The backend conformance suite: every backend runs it from its own test files.
export { CONFORMANCE_CASE_IDS, type ConformanceCaseId } from './case-ids.js';
export type { ConformanceHarness, ConformanceOptions, ConformanceTestContext, ConformanceTestFn, ConformanceTolerances } from './types.js';
export { CONFORMANCE_CASES, defaultTolerances, defineConformanceSuite, unsupportedReason } from './suite.js';
export type { CaseContext, ConformanceCase } from './case.js';
export { ConformanceFailure, ConformanceSkip } from './assertions.js';
