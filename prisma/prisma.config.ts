// Configuration for the Prisma CLI, used only by `prisma generate` at install.
// Migrations run in-process through server/db/migrate.ts (WASM schema engine).
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
});
