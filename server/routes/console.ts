import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

// Vietnamese first, English beside it. The full operator console is its own issue; this page
// is the entry point `npm start` prints, linking to what exists today.
const PAGE = `<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>loaphuong — Hệ thống truyền thanh cơ sở</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
small{color:#555}code{background:#f3f3f3;padding:0 .25rem}</style></head>
<body><h1>Hệ thống truyền thanh cơ sở <small>Grassroots broadcasting</small></h1>
<p>Máy chủ đang chạy. <small>The server is running.</small></p>
<ul>
<li><a href="/docs">Tài liệu API</a> <small>API documentation (OpenAPI)</small></li>
<li><a href="/health">Tình trạng hệ thống</a> <small>Health</small></li>
<li><a href="/metrics">Số liệu vận hành</a> <small>Metrics</small></li>
</ul>
<p>Đăng nhập qua <code>POST /api/v1/auth/login</code> để tải lên bản tin và lập lịch phát.
<small>Log in with POST /api/v1/auth/login to upload bulletins and schedule them.</small></p>
</body></html>`;

export const consoleRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/', { schema: { tags: ['console'], summary: 'Console entry page', produces: ['text/html'] } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(PAGE),
  );
};
