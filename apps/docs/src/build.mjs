// Renders the pages of pages.mjs to dist/<slug>.html with a shared sidebar. Links between
// repository markdown files are rewritten to the matching page, so the READMEs read the same on
// GitHub and on the site. Usage: node src/build.mjs [outDir]
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Marked } from 'marked';
import { pages } from './pages.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');

const bySource = new Map(pages.map((p) => [normalize(p.source), p]));

function rewriteHref(href, fromSource) {
  if (/^[a-z]+:/i.test(href) || href.startsWith('#')) return href;
  const [path, hash] = href.split('#');
  const target = normalize(join(dirname(fromSource), path));
  const page = bySource.get(target);
  if (page) return `${page.slug}.html${hash ? `#${hash}` : ''}`;
  return href;
}

const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function layout(page, body) {
  const nav = pages
    .map((p) => `<li${p === page ? ' class="current"' : ''}><a href="${p.slug}.html">${escapeHtml(p.title)}</a></li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)} · ZipServ</title>
<style>
body{margin:0;font:16px/1.55 system-ui,sans-serif;color:#1c1c1c;display:flex}
nav{width:15rem;min-height:100vh;background:#f4f4f2;padding:1rem;box-sizing:border-box;flex:none}
nav ul{list-style:none;padding:0}nav li{margin:.3rem 0}nav .current a{font-weight:700}
main{max-width:52rem;padding:1rem 2rem;overflow-x:auto}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto}code{font-size:.9em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}
</style></head>
<body><nav><strong>ZipServ</strong><ul>${nav}</ul></nav><main>${body}</main></body></html>
`;
}

/** Builds the site into outDir (atomically: a temp dir renamed at the end). Returns the pages written. */
export async function buildSite(outDir = join(here, '..', 'dist')) {
  const tmp = `${outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const written = [];
  for (const page of pages) {
    const markdown = await readFile(join(repoRoot, page.source), 'utf8').catch(() => {
      throw new Error(`docs: page '${page.slug}' needs ${page.source}, which is missing`);
    });
    const marked = new Marked({
      gfm: true,
      walkTokens: (token) => {
        if (token.type === 'link' || token.type === 'image') token.href = rewriteHref(token.href, page.source);
      },
    });
    await writeFile(join(tmp, `${page.slug}.html`), layout(page, await marked.parse(markdown)));
    written.push(page.slug);
  }
  await rm(outDir, { recursive: true, force: true });
  await rename(tmp, outDir);
  return written;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildSite(process.argv[2] ? resolve(process.argv[2]) : undefined).then(
    (written) => console.log(`docs: ${written.length} pages -> ${process.argv[2] ?? 'apps/docs/dist'}`),
    (err) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
