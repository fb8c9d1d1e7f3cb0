// The embedded broker's persistence: aedes' in-memory one, with its retained messages also kept by exact
// topic. At each SUBSCRIBE aedes asks for the retained messages matching the subscribed patterns, and the
// memory persistence answers by testing every retained topic against each pattern: with a plan and a state
// retained per gateway, a reconnect storm of N gateways costs N × 4 patterns × 2N tests (10,542 gateways: 900
// million; a 3,000-gateway storm spent 23 of its 41 busy seconds there). A gateway subscribes only to exact
// topics ([P-2.2]), so those are answered from the index; a pattern with a wildcard still goes to the scan.
import { Readable } from 'node:stream';
import aedesPersistence, { type AedesMemoryPersistence } from 'aedes-persistence';

// A CommonJS module whose types declare an ES default export: at run time the module itself is the factory.
const memory = aedesPersistence as unknown as () => AedesMemoryPersistence;
type Persistence = AedesMemoryPersistence;
type Retained = Parameters<Persistence['storeRetained']>[0];

/** A topic filter with no wildcard (nor a shared-subscription prefix) names one topic. */
const exact = (pattern: string) => !/[+#]/.test(pattern) && !pattern.startsWith('$share/');

export function indexedMemoryPersistence(): Persistence {
  const persistence = memory();
  const byTopic = new Map<string, Retained>();
  const { storeRetained, createRetainedStream, createRetainedStreamCombi } = persistence;
  const stored = (patterns: string[]) =>
    Readable.from(
      patterns.flatMap((p) => byTopic.get(p) ?? []),
      { objectMode: true },
    );
  // Called with a callback or without one (a promise back, as aedes 1.x does): the original answers both.
  persistence.storeRetained = (packet, cb) => {
    // The memory persistence keeps a shallow copy too: aedes reuses the packet it was given.
    const { topic, payload } = packet as Retained & { topic: string; payload: Buffer };
    if (payload.length === 0) byTopic.delete(topic);
    else byTopic.set(topic, { ...packet });
    return storeRetained.call(persistence, packet, cb);
  };
  persistence.createRetainedStream = (pattern) => (exact(pattern) ? stored([pattern]) : createRetainedStream.call(persistence, pattern));
  persistence.createRetainedStreamCombi = (patterns) =>
    patterns.every(exact) ? stored(patterns) : createRetainedStreamCombi.call(persistence, patterns);
  return persistence;
}
