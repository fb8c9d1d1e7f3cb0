// Records a bulletin from the microphone (MediaRecorder), with a live level meter; the operator listens,
// names it and hands the file to the library's upload (the same byte and processing progress).
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n.ts';

type State = { stage: 'idle' } | { stage: 'recording'; since: number } | { stage: 'recorded'; blob: Blob; url: string; ms: number };

/** Opus in WebM where the browser has it (Chromium, Firefox), else what it offers (Safari: MP4/AAC). */
const mimeType = () => ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'].find((m) => MediaRecorder.isTypeSupported(m)) ?? '';
const extension = (type: string) => (type.includes('webm') ? 'webm' : type.includes('ogg') ? 'ogg' : 'm4a');

export function Recorder({ onRecorded }: { onRecorded: (file: File) => void }) {
  const [state, setState] = useState<State>({ stage: 'idle' });
  const [level, setLevel] = useState(0);
  const [now, setNow] = useState(Date.now());
  const [title, setTitle] = useState('');
  const [error, setError] = useState('');
  const stop = useRef<() => void>(() => {});
  useEffect(() => () => stop.current(), []);

  const start = async () => {
    setError('');
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: true } });
    } catch (err) {
      setError(t('micRefused', { message: (err as Error).message }));
      return;
    }
    const type = mimeType();
    const recorder = new MediaRecorder(stream, type ? { mimeType: type, audioBitsPerSecond: 64_000 } : {});
    const chunks: Blob[] = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    // The meter: RMS of the microphone, redrawn a few times a second.
    const audio = new AudioContext();
    const analyser = audio.createAnalyser();
    audio.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const meter = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      setLevel(Math.sqrt(samples.reduce((a, s) => a + s * s, 0) / samples.length));
      setNow(Date.now());
    }, 100);
    const since = Date.now();
    recorder.onstop = () => {
      clearInterval(meter);
      void audio.close();
      for (const track of stream.getTracks()) track.stop();
      const blob = new Blob(chunks, { type: recorder.mimeType || type });
      setState({ stage: 'recorded', blob, url: URL.createObjectURL(blob), ms: Date.now() - since });
    };
    stop.current = () => recorder.state !== 'inactive' && recorder.stop();
    recorder.start(1000);
    setState({ stage: 'recording', since });
  };

  const discard = () => {
    if (state.stage === 'recorded') URL.revokeObjectURL(state.url);
    setState({ stage: 'idle' });
  };
  const keep = () => {
    if (state.stage !== 'recorded') return;
    const name = `${title.trim() || t('recording')}.${extension(state.blob.type)}`;
    onRecorded(new File([state.blob], name, { type: state.blob.type }));
    discard();
    setTitle('');
  };
  const seconds = (ms: number) => `${Math.floor(ms / 1000)} s`;

  return (
    <section class="panel" aria-labelledby="rec-h">
      <h2 id="rec-h">{t('record')}</h2>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {state.stage === 'idle' && (
        <button type="button" onClick={start}>
          {t('startRecording')}
        </button>
      )}
      {state.stage === 'recording' && (
        <div class="row">
          <span class="recording" aria-live="polite">
            ● {t('recordingFor', { time: seconds(now - state.since) })}
          </span>
          <meter min={0} max={0.5} value={level} aria-label={t('micLevel')} />
          <button type="button" onClick={() => stop.current()}>
            {t('stopRecording')}
          </button>
        </div>
      )}
      {state.stage === 'recorded' && (
        <div class="stack">
          <p>{t('recorded', { time: seconds(state.ms) })}</p>
          {/* biome-ignore lint/a11y/useMediaCaption: the operator's own recording, listened to before uploading */}
          <audio controls src={state.url} />
          <label>
            {t('title')}
            <input value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          </label>
          <div class="row">
            <button type="button" onClick={keep}>
              {t('uploadRecording')}
            </button>
            <button type="button" class="link" onClick={discard}>
              {t('discard')}
            </button>
          </div>
        </div>
      )}
    </section>
  );
}
