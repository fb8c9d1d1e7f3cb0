// After a change: the new plans the server published since then and whether each gateway has them yet
// (GET /deliveries for manifests, GET /group-deliveries for group plans), followed until none is pending or
// a minute has passed. A station counts once: failed if its newest manifest failed, pending while anything
// new is on its way to it, delivered once everything is.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { t } from '../i18n.ts';

interface Delivery {
  station: string;
  status: 'pending' | 'delivered' | 'failed' | 'expired' | 'superseded';
  publishedAt: string;
}

const FOLLOW_MS = 60_000;

export function DeliveryState({ since }: { since: string }) {
  const [latest, setLatest] = useState<Map<string, Delivery['status']> | null>(null);
  useEffect(() => {
    let stopped = false;
    const started = Date.now();
    const poll = async () => {
      const q = `since=${encodeURIComponent(since)}`;
      const [r, groups] = await Promise.all([
        api<{ items: Delivery[] }>('GET', `/deliveries?${q}&limit=1000`).catch(() => null),
        api<{ items: Delivery[] }>('GET', `/group-deliveries?${q}`).catch(() => null),
      ]);
      if (stopped) return;
      // A station's newest plan is what counts; older ones it replaced are superseded.
      const byStation = new Map<string, Delivery>();
      for (const d of r?.items ?? []) {
        const seen = byStation.get(d.station);
        if (!seen || d.publishedAt > seen.publishedAt) byStation.set(d.station, d);
      }
      const states = new Map([...byStation].map(([code, d]) => [code, d.status]));
      for (const g of groups?.items ?? []) {
        const s = states.get(g.station);
        if (!s || s === 'delivered' || s === 'superseded') states.set(g.station, g.status);
      }
      setLatest(states);
      if ([...states.values()].some((s) => s === 'pending') && Date.now() - started < FOLLOW_MS) setTimeout(poll, 1000);
    };
    void poll();
    return () => {
      stopped = true;
    };
  }, [since]);
  if (!latest) return null;
  const count = (s: Delivery['status']) => [...latest.values()].filter((v) => v === s).length;
  return (
    <p class="delivery" role="status">
      {latest.size === 0
        ? t('deliveryNone')
        : t('deliveryState', {
            delivered: count('delivered'),
            total: latest.size,
            pending: count('pending'),
            failed: count('failed') + count('expired'),
          })}
    </p>
  );
}
