// The conformance suite run on the reference backend itself: every case must pass, none skipped.
// (This is also the template a third-party backend's test file follows.)

import { afterAll, describe, expect, it } from 'vitest';
import { createRefBackend } from '../src/backend/index.js';
import { defineConformanceSuite } from '../src/conformance/index.js';

defineConformanceSuite({ describe, it, expect, afterAll }, { name: 'ref', createBackend: async () => createRefBackend() });
