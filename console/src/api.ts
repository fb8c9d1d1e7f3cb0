// The console's only way to the server: the public HTTP API, with the session cookie and its CSRF header.
import { lang } from './i18n.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const csrf = () => document.cookie.match(/(?:^|; )lp_csrf=([^;]+)/)?.[1] ?? '';

function send(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`/api/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: {
      'accept-language': lang.get(),
      ...(method === 'GET' ? {} : { 'x-csrf-token': decodeURIComponent(csrf()) }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  return new ApiError(res.status, json?.error?.code ?? 'HTTP', json?.error?.message ?? res.statusText);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** A call whose answer is a file (audio to listen to). */
export async function apiBlob(method: string, path: string, body?: unknown): Promise<Blob> {
  const res = await send(method, path, body);
  if (!res.ok) throw await failure(res);
  return res.blob();
}

/** Uploads one file with byte progress; resolves with the job the server queued. */
export function uploadFile(file: File, onProgress: (share: number) => void): Promise<{ id: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/media?async=true');
    xhr.setRequestHeader('x-csrf-token', decodeURIComponent(csrf()));
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      const json = xhr.responseText ? JSON.parse(xhr.responseText) : {};
      if (xhr.status === 202) resolve(json);
      else reject(new ApiError(xhr.status, json?.error?.code ?? 'HTTP', json?.error?.message ?? xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'network error'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export interface Me {
  username: string;
  role: string;
  unit: { code: string; name: string; type: string } | null;
}
