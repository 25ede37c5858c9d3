import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without types
import { buildSite } from '../src/build.mjs';
// @ts-expect-error plain ESM module without types
import { pages } from '../src/pages.mjs';

describe('docs site', () => {
  it('renders every page and every internal link resolves', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'zipserv-docs-')), 'site');
    const written: string[] = await buildSite(out);
    expect(written).toEqual(pages.map((p: { slug: string }) => p.slug));
    const files = new Set(await readdir(out));
    for (const slug of written) {
      const html = await readFile(join(out, `${slug}.html`), 'utf8');
      expect(html).toContain('<main>');
      for (const [, href] of html.matchAll(/href="([^"#:]+\.html)(?:#[^"]*)?"/g)) {
        expect(files.has(href!), `${slug}.html links to missing ${href}`).toBe(true);
      }
    }
  });
});
