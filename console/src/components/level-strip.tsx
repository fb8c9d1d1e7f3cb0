// An item's level strip: peak (light) and RMS (dark) per slice, from GET /media/{id}/levels.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { t } from '../i18n.ts';

interface Levels {
  sliceMs: number;
  rmsDbfs: number[];
  peakDbfs: number[];
}

/** -60 dBFS and below draw nothing; 0 dBFS fills the height. */
const FLOOR = -60;
const H = 40;
const bar = (db: number) => (Math.max(0, db - FLOOR) / -FLOOR) * H;

export function LevelStrip({ mediaId }: { mediaId: string }) {
  const [levels, setLevels] = useState<Levels | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    api<Levels>('GET', `/media/${mediaId}/levels`).then(setLevels, () => setFailed(true));
  }, [mediaId]);
  if (failed) return <p class="quiet">{t('noLevels')}</p>;
  if (!levels) return <p class="quiet">…</p>;
  const n = levels.rmsDbfs.length;
  const loudest = Math.max(...levels.peakDbfs);
  return (
    <svg
      class="levels"
      viewBox={`0 0 ${n} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={t('levelsLabel', { peak: loudest, seconds: Math.round((n * levels.sliceMs) / 1000) })}
    >
      {levels.peakDbfs.map((p, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: slices are positions in time
        <rect key={`p${i}`} class="peak" x={i} width={0.9} y={(H - bar(p)) / 2} height={bar(p)} />
      ))}
      {levels.rmsDbfs.map((r, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: slices are positions in time
        <rect key={`r${i}`} class="rms" x={i} width={0.9} y={(H - bar(r)) / 2} height={bar(r)} />
      ))}
    </svg>
  );
}
