// `npm run agent:build`: the agent as one ES module for gateways (dist/agent.mjs), run with plain
// `node` — no TypeScript loader, no node_modules on the device, a smaller resident set.
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
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
  // [P-5.6] libopus for live audio: the compiled binding beside the bundle (loaded only when a stream comes).
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('@discordjs/opus/package.json'));
  const { find } = require('@discordjs/node-pre-gyp') as { find(packageJson: string): string };
  copyFileSync(find(join(pkg, 'package.json')), join(dirname(outfile), 'opus.node'));
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await buildAgent(process.argv[2]));
