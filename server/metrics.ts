// Prometheus metrics, one registry per app instance (tests build many apps in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  let mqttClientCount = () => 0;
  collectDefaultMetrics({ register: registry, prefix: 'loaphuong_' });
  return {
    registry,
    uploads: new Counter({
      name: 'loaphuong_uploads_total',
      help: 'Uploads by result code',
      labelNames: ['result'],
      registers: [registry],
    }),
    reports: new Counter({
      name: 'loaphuong_reports_total',
      help: 'Playback reports from gateways by result code',
      labelNames: ['result'],
      registers: [registry],
    }),
    manifests: new Counter({ name: 'loaphuong_manifests_published_total', help: 'Station manifests published', registers: [registry] }),
    mqttClients: new Gauge({
      name: 'loaphuong_mqtt_clients',
      help: 'Clients connected to the embedded broker',
      registers: [registry],
      collect() {
        this.set(mqttClientCount());
      },
    }),
    countMqttClientsWith(source: () => number) {
      mqttClientCount = source;
    },
    transcodeSeconds: new Histogram({
      name: 'loaphuong_ingest_seconds',
      help: 'Time to probe and transcode an upload',
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
