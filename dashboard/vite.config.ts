import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The web dashboard (SPEC §8), built into dashboard/dist and served by `keyplane serve` at `/`.
 * The build has no inline script (the server's CSP allows scripts from 'self' only): Vite emits
 * one hashed module script under /assets, and the module preload polyfill (an inline snippet
 * in some setups) is off.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npx vite dashboard` during development: the API answers from a local `keyplane serve`.
    proxy: {
      '/dashboard/api': 'http://127.0.0.1:8080',
      '/admin/v1': 'http://127.0.0.1:8080',
      '/v1': 'http://127.0.0.1:8080',
    },
  },
});
