// Configuration for the Prisma CLI on PostgreSQL, used only by `prisma generate` at install.
// schema.prisma here is derived from ../schema.prisma by ../generate.mjs.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
});
