// One HTML entry per page (a multi-page build): the server maps each route to its file
// (/watch/<stream> -> watch.html), and a page loads only its own code (hls.js only on watch).
// Everything else lands in assets/ with a content hash in its name: the server caches those for
// a year (immutable). `npm run dev` proxies the API and HLS to a kibitka on 127.0.0.1:8080.
import { defineConfig } from 'vite';
import { resolve } from 'node:path';

const backend = process.env.KIBITKA_DEV_BACKEND || 'http://127.0.0.1:8080';
const pages = ['index', 'watch', 'publish', 'voice', 'admin'];

export default defineConfig({
  base: '/',
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
