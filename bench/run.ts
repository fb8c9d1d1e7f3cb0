// `npm run bench -- <name>...`: runs the named benchmarks (all when none is named). Each prints
// one JSON line per figure: {"bench": "...", "metric": "...", "value": N, "unit": "..."}.
const BENCHES: Record<string, () => Promise<void>> = {
  e2e: async () => (await import('./e2e.ts')).run(),
  content: async () => (await import('./content.ts')).run(),
  dispatch: async () => (await import('./dispatch.ts')).run(),
  emergency: async () => (await import('./emergency.ts')).run(),
  live: async () => (await import('./live.ts')).run(),
  agent: async () => (await import('./agent.ts')).run(),
  compliance: async () => (await import('./compliance.ts')).run(),
  faults: async () => (await import('./faults.ts')).run(),
  reconnect: async () => (await import('./reconnect.ts')).run(),
  attacks: async () => (await import('./attacks.ts')).run(),
  scale: async () => (await import('./scale.ts')).run(),
  console: async () => (await import('./console.ts')).run(),
  start: async () => (await import('./start.ts')).run(),
};

const names = process.argv.slice(2).filter((a) => a !== '--');
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
for (const name of names.length ? names : Object.keys(BENCHES)) await BENCHES[name]();
process.exit(0);
