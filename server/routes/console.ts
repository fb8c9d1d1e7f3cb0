// The browser console (console/, built into console/dist by `npm install`) served at `/`: its page and
// its script and style files, from this origin only (the CSP allows nothing else). When the build is
// missing, `/` says how to make it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

export const CONSOLE_DIR = join(import.meta.dirname, '../../console/dist');

const MISSING = `<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>loaphuong</title></head>
<body><h1>Hệ thống truyền thanh cơ sở</h1>
<p>Giao diện chưa được dựng: chạy <code>npm run console:build</code>. <small>The console is not built: run npm run console:build.</small></p>
<p><a href="/docs">Tài liệu API (API documentation)</a></p></body></html>`;

export const consoleRoutes: FastifyPluginAsyncZod<{ dir?: string }> = async (app, opts) => {
  const dir = opts.dir ?? CONSOLE_DIR;
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(MISSING));
    return;
  }
  // Hashed file names never change: cached for a year; the page itself is re-read each time.
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    decorateReply: false,
    index: ['index.html'],
    wildcard: false,
    // The headers below, not @fastify/static's own max-age=0.
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
};
