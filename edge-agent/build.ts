// `npm run agent:build`: the agent as one ES module for gateways (dist/agent.mjs), run with plain
// `node` — no TypeScript loader, no node_modules on the device, a smaller resident set.
import { build } from 'esbuild';

export const AGENT_BUNDLE = 'dist/agent.mjs';
/** Node flags for the bundle on a gateway: a 1 MB young generation (the default 16 MB semi-spaces cost ~4 MB resident on an idle agent). */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=1'];

export async function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  await build({
    entryPoints: ['edge-agent/main.ts'],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    legalComments: 'linked',
    logLevel: 'warning',
    // Some bundled CommonJS dependencies call require() for Node built-ins.
    banner: { js: "import { createRequire as __lpRequire } from 'node:module'; const require = __lpRequire(import.meta.url);" },
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await buildAgent(process.argv[2]));
