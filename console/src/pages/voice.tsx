// "Phát trực tiếp": speak to every loudspeaker of an area. Choose the area, then hold the button to talk (or
// switch it on and off); the level meter shows the microphone, the counter how many stations play it. Below,
// the broadcasts so far with who spoke, where, how long, how the stations aired it, and the recording.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { TargetPicker, type Targets } from '../components/target-picker.tsx';
import { duration, hanoiTime, type MessageKey, t } from '../i18n.ts';
import { type Capture, openVoiceLink, type VoiceLink } from '../voice-capture.ts';

interface Status {
  stations: number;
  ready: number;
  refused: Record<string, number>;
  playing: number;
  durationMs: number;
}
interface Broadcast {
  id: string;
  speaker: string | null;
  stations: number;
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
  durationMs: number;
  recording: { sha256: string } | null;
  asRun: Record<string, number>;
}
type Phase = 'idle' | 'starting' | 'on-air' | 'ending';

/** Codes the page explains in the reader's language; others show the server's message. */
const KNOWN = ['OUT_OF_SCOPE', 'EMPTY_AREA', 'NO_AREA', 'NO_MICROPHONE', 'CONNECTION_LOST', 'NO_OPUS'];

export function Voice({ me }: { me: Me }) {
  const [targets, setTargets] = useState<Targets>({ units: [], stations: [] });
  const [priority, setPriority] = useState<'priority' | 'emergency'>('priority');
  const [hold, setHold] = useState(true);
  const [phase, setPhase] = useState<Phase>('idle');
  const [status, setStatus] = useState<Status | null>(null);
  const [level, setLevel] = useState(0);
  const [error, setError] = useState('');
  const [history, setHistory] = useState<Broadcast[]>([]);
  const live = useRef<{ link: VoiceLink; capture?: Capture } | null>(null);

  const refresh = () => void api<Broadcast[]>('GET', '/voice/broadcasts?limit=20').then(setHistory, () => {});
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, when the page opens; both read only refs and setters
  useEffect(() => {
    refresh();
    // The stations' proofs arrive after a broadcast ends: the outcomes keep up without a reload.
    const timer = setInterval(refresh, 10_000);
    // Leaving the page ends the broadcast.
    return () => {
      clearInterval(timer);
      finish();
    };
  }, []);

  const explain = (code: string, message: string) =>
    setError(KNOWN.includes(code) ? t(`voiceErr.${code}` as MessageKey) : `${code}: ${message}`);

  function finish(): void {
    const l = live.current;
    live.current = null;
    l?.capture?.stop();
    l?.link.send(JSON.stringify({ type: 'stop' }));
    setLevel(0);
  }

  async function begin(): Promise<void> {
    if (live.current) return;
    if (!targets.units.length && !targets.stations.length) return explain('NO_AREA', '');
    setError('');
    setStatus(null);
    setPhase('starting');
    // The socket and the frames live in a worker of their own: a busy page does not hold the audio back.
    const session: { link: VoiceLink; capture?: Capture } = {
      link: openVoiceLink(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/voice/ws`, {
        message(data) {
          const msg = JSON.parse(data) as { type: string; code?: string; message?: string; status?: Status } & Partial<Status>;
          if (msg.type === 'started') {
            // The audio goes out from now on (the server refuses frames before it).
            setPhase('on-air');
            setStatus({ stations: msg.stations ?? 0, ready: 0, refused: {}, playing: 0, durationMs: 0 });
          } else if (msg.type === 'status') setStatus(msg as Status);
          else if (msg.type === 'ended') {
            setPhase('idle');
            if (msg.status) setStatus(msg.status);
            finish();
            refresh();
          } else if (msg.type === 'error') {
            explain(msg.code ?? 'ERROR', msg.message ?? '');
            if (phase !== 'on-air' && !session.capture) finish();
          }
        },
        close() {
          if (live.current === session) {
            explain('CONNECTION_LOST', '');
            finish();
          }
          setPhase('idle');
          refresh();
        },
        async open() {
          try {
            // The microphone first: a browser that refuses it never goes on the air.
            const capture = await session.link.capture();
            session.capture = capture;
            if (live.current !== session) return capture.stop();
            session.link.send(JSON.stringify({ type: 'start', area: targets, priority, codec: capture.codec }));
          } catch {
            explain('NO_MICROPHONE', '');
            live.current = null;
            session.link.close();
          }
        },
        level: setLevel,
      }),
    };
    live.current = session;
  }

  const end = () => {
    setPhase((p) => (p === 'idle' ? p : 'ending'));
    finish();
  };
  const onAir = phase === 'on-air';
  const refused = status ? Object.entries(status.refused) : [];
  return (
    <main class="voice">
      <h1>{t('voice')}</h1>
      <ErrorLine message={error} />
      <section aria-labelledby="voice-area-h">
        <h2 id="voice-area-h">{t('voiceArea')}</h2>
        <fieldset class="plain" disabled={phase !== 'idle'}>
          <TargetPicker me={me} value={targets} onChange={setTargets} />
        </fieldset>
        <fieldset disabled={phase !== 'idle'}>
          <legend>{t('voicePriority')}</legend>
          {(['priority', 'emergency'] as const).map((p) => (
            <label key={p} class="inline">
              <input type="radio" name="voice-priority" checked={priority === p} onChange={() => setPriority(p)} />{' '}
              {t(`voicePriority.${p}` as MessageKey)}
            </label>
          ))}
        </fieldset>
        <label class="inline">
          <input type="checkbox" checked={hold} disabled={phase !== 'idle'} onChange={(e) => setHold(e.currentTarget.checked)} />{' '}
          {t('voiceHold')}
        </label>
      </section>
      <section class="panel voice-panel" aria-labelledby="voice-air-h">
        <h2 id="voice-air-h">{onAir ? t('voiceOnAir') : t('voiceReady')}</h2>
        <button
          type="button"
          class={`talk${onAir ? ' on-air' : ''}`}
          aria-pressed={phase !== 'idle'}
          {...(hold
            ? {
                onPointerDown: (e: PointerEvent) => {
                  (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
                  void begin();
                },
                onPointerUp: end,
                onPointerCancel: end,
                onKeyDown: (e: KeyboardEvent) => (e.key === ' ' || e.key === 'Enter') && !e.repeat && void begin(),
                onKeyUp: (e: KeyboardEvent) => (e.key === ' ' || e.key === 'Enter') && end(),
              }
            : { onClick: () => (phase === 'idle' ? void begin() : end()) })}
        >
          {phase === 'idle'
            ? hold
              ? t('voiceHoldToTalk')
              : t('voiceStart')
            : phase === 'starting'
              ? t('voiceStarting')
              : hold
                ? t('voiceRelease')
                : t('voiceStop')}
        </button>
        <div class="row">
          <meter min={0} max={0.5} low={0.02} high={0.3} optimum={0.1} value={level} aria-label={t('micLevel')} />
        </div>
        {status && (
          <p aria-live="polite" class="voice-count">
            {t('voicePlaying', { playing: status.playing, stations: status.stations })} · {t('voiceAnswered', { ready: status.ready })} ·{' '}
            {duration(status.durationMs)}
            {refused.length > 0 && <> · {t('voiceRefused', { list: refused.map(([c, n]) => `${c} × ${n}`).join(', ') })}</>}
          </p>
        )}
      </section>
      <section aria-labelledby="voice-history-h">
        <h2 id="voice-history-h">{t('voiceHistory')}</h2>
        <table>
          <thead>
            <tr>
              <th>{t('voiceWhen')}</th>
              <th>{t('voiceSpeaker')}</th>
              <th>{t('voiceStations')}</th>
              <th>{t('duration')}</th>
              <th>{t('voiceAsRun')}</th>
              <th>{t('voiceRecording')}</th>
            </tr>
          </thead>
          <tbody>
            {history.map((b) => (
              <tr key={b.id}>
                <td>{hanoiTime(b.startedAt)}</td>
                <td>{b.speaker ?? '—'}</td>
                <td>{b.stations}</td>
                <td>{b.endedAt ? duration(b.durationMs) : t('voiceOnAir')}</td>
                <td>
                  {Object.entries(b.asRun)
                    .map(([k, n]) => `${t(`airing.${k}` as MessageKey)}: ${n}`)
                    .join(' · ')}
                </td>
                <td>
                  {b.recording ? (
                    // biome-ignore lint/a11y/useMediaCaption: a recording of live speech has no captions
                    <audio controls preload="none" src={`/api/v1/voice/broadcasts/${b.id}/recording`} />
                  ) : (
                    '—'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </main>
  );
}
