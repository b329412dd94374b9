// One HTML entry per page (a multi-page build): the server maps each route to its file
// (/watch/<stream> -> watch.html), and a page loads only its own code (hls.js only on watch).
// Everything else lands in assets/ with a content hash in its name: the server caches those for
// a year (immutable). `npm run dev` proxies the API and HLS to a kibitka on 127.0.0.1:8080.
import { defineConfig } from 'vite';
import type { Plugin } from 'vite';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const backend = process.env.KIBITKA_DEV_BACKEND || 'http://127.0.0.1:8080';
const pages = ['index', 'watch', 'publish', 'voice', 'admin'];

// Writes NAME.gz beside each script, stylesheet and SVG of 1 KiB or more that gzip shrinks by a
// tenth at least; the server sends it to clients that accept gzip (hls.js: ~600 kB -> ~180 kB).
// Node's gzip header has no timestamp, so the same input gives the same bytes.
function precompress(): Plugin {
  return {
    name: 'kibitka-precompress',
    apply: 'build',
    writeBundle(options, bundle) {
      const dir = options.dir ?? 'dist';
      for (const name of Object.keys(bundle)) {
        if (!/^assets\/[^/]+\.(js|css|svg)$/.test(name)) continue;
        const body = readFileSync(resolve(dir, name));
        if (body.length < 1024) continue;
        const gz = gzipSync(body, { level: 9 });
        if (gz.length <= body.length * 0.9) writeFileSync(resolve(dir, `${name}.gz`), gz);
      }
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [precompress()],
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // No data: URIs (the Content-Security-Policy allows none for scripts and styles) and no
    // polyfill: the pages target browsers with ES modules and modulepreload.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2020',
    sourcemap: false,
    chunkSizeWarningLimit: 1024, // hls.js alone is ~600 kB minified (~180 kB gzipped)
    reportCompressedSize: false,
    rollupOptions: {
      input: Object.fromEntries(pages.map((p) => [p, resolve(__dirname, `${p}.html`)])),
    },
  },
  server: {
    proxy: Object.fromEntries(['/api', '/hls', '/whip'].map((p) => [p, backend])),
  },
});
