// A simulator in its own process for the country-scale dispatch bench: 10,542 gateways need 10,542
// sockets on each side, more than one process may open here. Receives {serverUrl, mqttUrl, tokens} over
// IPC, answers {ready: n} once every gateway is enrolled and subscribed, and stops on "stop".
import { systemClock } from '../edge-agent/clock.ts';
import { Simulator } from '../edge-agent/simulator.ts';

process.once('message', async (msg: { serverUrl: string; mqttUrl: string; tokens: string[]; groupPlans?: boolean }) => {
  const sim = new Simulator({ serverUrl: msg.serverUrl, mqttUrl: msg.mqttUrl, clock: systemClock, fetch, groupPlans: msg.groupPlans });
  await sim.start(msg.tokens, 64);
  process.send?.({ ready: sim.gateways.length, rssMb: Math.round(process.memoryUsage().rss / 1048576) });
  process.once('message', async () => {
    await sim.stop();
    process.exit(0);
  });
});
