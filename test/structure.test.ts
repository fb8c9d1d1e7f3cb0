// The structure the READMEs and ARCHITECTURE.md state, checked on the sources: imports go one way, routes
// hold no data access, the domain knows no HTTP, and no room grows past 400 lines.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';

const ROOT = join(import.meta.dirname, '..');

function sources(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'generated' && e.name !== 'generated-pg' && e.name !== 'dist') walk(p);
      } else if (/\.tsx?$/.test(e.name)) out.push({ path: relative(ROOT, p), text: readFileSync(p, 'utf8') });
    }
  };
  walk(join(ROOT, dir));
  return out;
}

/** Every module specifier a file imports (static imports, re-exports and dynamic imports). */
const imports = (text: string) => [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1] as string);

const offenders = (files: { path: string; text: string }[], bad: (spec: string) => boolean) =>
  files.flatMap((f) =>
    imports(f.text)
      .filter(bad)
      .map((spec) => `${f.path} imports ${spec}`),
  );

const server = sources('server');
const agent = sources('edge-agent');
const protocol = sources('firmware-protocol');
const consoleSrc = sources('console/src');

t.test('the programs import one way: protocol from neither, server and agent not from each other, the console from none', async (t) => {
  t.same(
    offenders(protocol, (s) => /(^|\/)(server|edge-agent)\//.test(s)),
    [],
  );
  t.same(
    offenders(server, (s) => /edge-agent\//.test(s)),
    [],
  );
  t.same(
    offenders(agent, (s) => /(^|\.\.\/)server\//.test(s)),
    [],
  );
  t.same(
    offenders(consoleSrc, (s) => /(server|edge-agent|firmware-protocol)\//.test(s) || s === '#protocol'),
    [],
  );
});

t.test('routes hold no data access: no database client, no Prisma call', async (t) => {
  const routes = server.filter((f) => f.path.startsWith('server/routes/'));
  t.ok(routes.length > 10);
  t.same(
    offenders(routes, (s) => /db\/(client|generated|proof-ledger)/.test(s)),
    [],
  );
  t.same(
    routes.filter((f) => /\bdb\.\w+\.\w+\(|\$queryRaw|\$executeRaw/.test(f.text)).map((f) => f.path),
    [],
  );
});

t.test('the domain knows no HTTP: services and the rules below them import neither http/, routes/ nor fastify', async (t) => {
  const domain = server.filter((f) => /^server\/(services|compliance|scheduling|db|mqtt|media|auth)\//.test(f.path));
  t.ok(domain.length > 30);
  t.same(
    offenders(domain, (s) => /(^|\/)(http|routes)\//.test(s) || s.startsWith('fastify') || s.startsWith('@fastify/')),
    [],
  );
});

t.test('no source file of server/, edge-agent/ or firmware-protocol/ is over 400 lines; the composition root is under 150', async (t) => {
  const long = [...server, ...agent, ...protocol]
    .map((f) => ({ path: f.path, lines: f.text.split('\n').length - 1 }))
    .filter((f) => f.lines > 400);
  t.same(long, []);
  const root = server.find((f) => f.path === 'server/server.ts');
  t.ok(root && root.text.split('\n').length < 150, 'server/server.ts under 150 lines');
});
