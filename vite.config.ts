import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './test/chromium.js';

// simple-peer 9's package entry needs Node's `global`, `process` and Buffer; its prebuilt browser
// bundle carries its own. The core imports 'simple-peer' and the browser gets the bundle.
const browserAliases = { 'simple-peer': 'simple-peer/simplepeer.min.js' };

export default defineConfig({
  root: 'web',
  publicDir: '../public',
  resolve: { alias: browserAliases },
  plugins: [
    svelte({ configFile: '../svelte.config.js' }),
    VitePWA({
      strategies: 'injectManifest',
      srcDir: '.',
      filename: 'sw.ts',
      injectRegister: false,
      manifest: {
        name: 'Mycel',
        short_name: 'Mycel',
        description: 'Share files peer to peer, encrypted end to end.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f6f5f1',
        theme_color: '#2f6f4f',
        // A phone's share sheet can send files to Mycel: web/sw.ts takes the POST (web/lib/shared-files.ts).
        share_target: {
          action: '/share-target',
          method: 'POST',
          enctype: 'multipart/form-data',
          params: { files: [{ name: 'files', accept: ['*/*'] }] },
        },
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: '/icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      injectManifest: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        rollupFormat: 'iife',
        buildPlugins: { vite: [{ name: 'mycel-sw-aliases', config: () => ({ resolve: { alias: browserAliases } }) }] },
      },
    }),
  ],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
  },
  test: {
    root: '.',
    projects: [
      {
        test: {
          name: 'unit',
          root: '.',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          root: '.',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // Each file runs real processes and WebRTC on a 2-core machine: one file at a time keeps
          // them from starving each other.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias: browserAliases },
        test: {
          name: 'chromium',
          root: '.',
          include: [
            'test/browser/**/*.test.ts',
            'test/unit/content.test.ts',
            'test/unit/format-v2.test.ts',
            'test/unit/nonce-reuse.test.ts',
          ],
          testTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
