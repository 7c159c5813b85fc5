export interface RuntimeConfig {
  apiUrl: string;
  socketUrl: string;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export function fallbackConfig(loc: Pick<Location, 'protocol' | 'hostname'> = window.location): RuntimeConfig {
  return {
    apiUrl: `${loc.protocol}//${loc.hostname}:7070`,
    socketUrl: `${loc.protocol}//${loc.hostname}:7080`,
  };
}

/**
 * Reads `/config.json` from the panel's own origin. Anything unusable (network error, 404,
 * the SPA fallback answering with HTML, missing fields) falls back to the default ports on
 * the same host.
 */
export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<RuntimeConfig> {
  const fallback = fallbackConfig();
  try {
    const res = await fetchImpl('/config.json', { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) return fallback;
    const text = await res.text();
    const data = JSON.parse(text) as Partial<RuntimeConfig>;
    return {
      apiUrl: trimSlash(typeof data.apiUrl === 'string' && data.apiUrl ? data.apiUrl : fallback.apiUrl),
      socketUrl: trimSlash(typeof data.socketUrl === 'string' && data.socketUrl ? data.socketUrl : fallback.socketUrl),
    };
  } catch {
    return fallback;
  }
}
