import { useState } from 'preact/hooks';
import { ApiError, api, type Me } from '../api.ts';
import { ErrorLine } from '../components/error-line.tsx';
import { lang, setLang, t } from '../i18n.ts';

export function Login({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [error, setError] = useState('');
  const [needsCode, setNeedsCode] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const body = {
      username: String(form.get('username') ?? ''),
      password: String(form.get('password') ?? ''),
      ...(form.get('totp') ? { totp: String(form.get('totp')) } : {}),
    };
    try {
      await api('POST', '/auth/session', body);
      onSignedIn(await api<Me>('GET', '/auth/me'));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'TOTP_REQUIRED') setNeedsCode(true);
      else setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <main class="login">
      <h1>{t('appName')}</h1>
      <form onSubmit={submit}>
        <label>
          {t('username')}
          <input name="username" autocomplete="username" required />
        </label>
        <label>
          {t('password')}
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {needsCode && (
          <label>
            {t('totp')}
            <input name="totp" inputMode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required />
            <small>{t('totpNeeded')}</small>
          </label>
        )}
        <ErrorLine message={error} />
        <button type="submit">{t('signIn')}</button>
        <button type="button" class="link" onClick={() => setLang(lang.get() === 'vi' ? 'en' : 'vi')}>
          {t('language')}
        </button>
      </form>
    </main>
  );
}
