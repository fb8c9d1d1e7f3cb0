// The console's build: one HTML page, its script and style as files (no inline script, for the CSP).
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [preact()],
  build: {
    // LP_DEBUG_STACK=1: source maps, and the console tests print a page error's stack.
    sourcemap: Boolean(process.env.LP_DEBUG_STACK),
    outDir: 'dist',
    emptyOutDir: true,
    // Modern browsers of commune offices' phones; no legacy polyfills.
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
