// The one way a page says an error: announced to screen readers, in the chosen language, nothing when empty.
import { t } from '../i18n.ts';

export function ErrorLine({ message }: { message: string }) {
  if (!message) return null;
  return (
    <p role="alert" class="error">
      {t('error', { message })}
    </p>
  );
}
