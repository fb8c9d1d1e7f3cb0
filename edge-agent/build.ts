// `npm run agent:build`: the agent as one ES module for gateways (dist/agent.mjs), run with plain
// `node` — no TypeScript loader, no node_modules on the device, a smaller resident set.
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

export const AGENT_BUNDLE = 'dist/agent.mjs';
/**
 * Node flags for the bundle on a gateway, each measured on the idle agent (`npm run bench -- agent`):
 * - a 1 MB young generation (the default 16 MB semi-spaces cost ~4 MB resident);
 * - V8's lite mode: no optimising compilers, feedback allocated lazily (1.4 MB less resident). The agent's
 *   JavaScript is light: opening a 500-entry manifest takes 21 ms instead of 8, the live-audio silence test
 *   0.12 ms per 20 ms frame instead of 0.007. Lite mode also turns WebAssembly off (the agent uses none);
 *   `--no-expose-wasm` says so, else node warns at each start.
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=1', '--lite-mode', '--no-expose-wasm'];

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
