// The site map: every page is a markdown file of the repository (one source of truth; the site
// only renders it). Paths are relative to the repository root.
export const pages = [
  { slug: 'index', title: 'Overview', source: 'README.md' },
  { slug: 'getting-started', title: 'Getting started', source: 'docs/getting-started.md' },
  { slug: 'architecture', title: 'Architecture', source: 'docs/architecture.md' },
  { slug: 'format-spec', title: 'TCA-TBE format (spec)', source: 'packages/format/SPEC.md' },
  { slug: 'writing-a-backend', title: 'Writing a backend', source: 'docs/writing-a-backend.md' },
  { slug: 'benchmarks', title: 'Benchmarks', source: 'docs/benchmarks.md' },
  { slug: 'format', title: '@zipserv/format', source: 'packages/format/README.md' },
  { slug: 'codec-ref', title: '@zipserv/codec-ref', source: 'packages/codec-ref/README.md' },
  { slug: 'backend-cuda', title: '@zipserv/backend-cuda', source: 'packages/backend-cuda/README.md' },
  { slug: 'backend-webgpu', title: '@zipserv/backend-webgpu', source: 'packages/backend-webgpu/README.md' },
  { slug: 'runtime', title: '@zipserv/runtime', source: 'packages/runtime/README.md' },
  { slug: 'cli', title: '@zipserv/cli', source: 'packages/cli/README.md' },
];
