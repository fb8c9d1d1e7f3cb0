// The shell: sign-in, then the header (pages, language, sign-out) and the page of the hash route.
import { useEffect, useState } from 'preact/hooks';
import { api, type Me } from './api.ts';
import { lang, setLang, t } from './i18n.ts';
import { stopLive } from './live.ts';
import { Alerts } from './pages/alerts.tsx';
import { Approvals } from './pages/approvals.tsx';
import { AUDIT_ROLES, Audit } from './pages/audit.tsx';
import { Calendar } from './pages/calendar.tsx';
import { Compliance } from './pages/compliance.tsx';
import { Emergency } from './pages/emergency.tsx';
import { Library } from './pages/library.tsx';
import { Live } from './pages/live.tsx';
import { Login } from './pages/login.tsx';
import { Schedules } from './pages/schedules.tsx';
import { Station } from './pages/station.tsx';
import { Voice } from './pages/voice.tsx';
import { useSignal } from './state.ts';

const PAGES = {
  library: Library,
  approvals: Approvals,
  schedules: Schedules,
  calendar: Calendar,
  live: Live,
  compliance: Compliance,
  alerts: Alerts,
  audit: Audit,
  station: Station,
  emergency: Emergency,
  voice: Voice,
} as const;
type Page = keyof typeof PAGES;
/** Pages reached from others (a station from the map or a list), or by their own button (emergency), not from the list. */
const NAV = (Object.keys(PAGES) as Page[]).filter((p) => p !== 'station' && p !== 'emergency' && p !== 'voice');
/** "#/schedules?edit=…" → schedules; anything unknown → the library. */
/** Who may raise an alert: the operators (the server's `command` capability). */
const EMERGENCY_ROLES = ['province_admin', 'district_operator', 'commune_operator'];
const pageOf = (hash: string): Page => {
  const name = hash.replace(/^#\//, '').split('?')[0] ?? '';
  return name in PAGES ? (name as Page) : 'library';
};

export function App() {
  useSignal(lang);
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [page, setPage] = useState<Page>(pageOf(location.hash));
  useEffect(() => {
    // Signed in only if the session's CSRF cookie is there (set with the HttpOnly session cookie, cleared at sign-out).
    if (!/(?:^|; )lp_csrf=/.test(document.cookie)) setMe(null);
    else api<Me>('GET', '/auth/me').then(setMe, () => setMe(null));
    const onHash = () => setPage(pageOf(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  if (me === undefined) return <main aria-busy="true" />;
  if (me === null) return <Login onSignedIn={setMe} />;
  const Current = PAGES[page];
  const signOut = async () => {
    await api('POST', '/auth/logout').catch(() => {});
    stopLive();
    setMe(null);
  };
  return (
    <>
      <header>
        <strong>{t('appName')}</strong>
        <nav aria-label={t('appName')}>
          {NAV.filter((p) => p !== 'audit' || AUDIT_ROLES.includes(me.role)).map((p) => (
            <a key={p} href={`#/${p}`} aria-current={p === page || (p === 'live' && page === 'station') ? 'page' : undefined}>
              {t(p)}
            </a>
          ))}
        </nav>
        {EMERGENCY_ROLES.includes(me.role) && (
          <a class="voice-button" href="#/voice" aria-current={page === 'voice' ? 'page' : undefined}>
            {t('voice')}
          </a>
        )}
        {EMERGENCY_ROLES.includes(me.role) && (
          <a class="emergency-button" href="#/emergency" aria-current={page === 'emergency' ? 'page' : undefined}>
            {t('emergency')}
          </a>
        )}
        <span class="who">
          {me.username}
          {me.unit ? ` · ${me.unit.name}` : ''}
        </span>
        <button type="button" onClick={() => setLang(lang.get() === 'vi' ? 'en' : 'vi')}>
          {t('language')}
        </button>
        <button type="button" onClick={signOut}>
          {t('signOut')}
        </button>
      </header>
      <main>
        <Current me={me} />
      </main>
    </>
  );
}
