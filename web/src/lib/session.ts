import type { LoginObject } from './types';

/** The login object plus when this browser received it (renewal is timed on the local clock). */
export interface Session {
  login: LoginObject;
  receivedAt: number;
}

const KEY = 'mom.session';
export const RENEW_AT_FRACTION = 0.8;
/** Renew at least this long before expiry (or halfway, for very short lifetimes). */
const MIN_MARGIN_MS = 5000;

export function newSession(login: LoginObject, now = Date.now()): Session {
  return { login, receivedAt: now };
}

export function lifetimeMs(s: Session): number {
  const l = s.login.exp - s.login.iat;
  return Number.isFinite(l) && l > 0 ? l : 0;
}

export function expiresAt(s: Session): number {
  return s.receivedAt + lifetimeMs(s);
}

/** ~80% through the token's lifetime, and never later than a few seconds before it expires. */
export function renewAt(s: Session): number {
  const life = lifetimeMs(s);
  const at = s.receivedAt + life * RENEW_AT_FRACTION;
  const margin = Math.min(MIN_MARGIN_MS, life / 2);
  return Math.max(s.receivedAt, Math.min(at, expiresAt(s) - margin));
}

export function isExpired(s: Session, now = Date.now()): boolean {
  return now >= expiresAt(s);
}

function isLogin(x: unknown): x is LoginObject {
  const l = x as LoginObject | null;
  return !!l && typeof l.accessToken === 'string' && typeof l.id === 'number' && typeof l.exp === 'number' && typeof l.iat === 'number';
}

export function parseSession(raw: string | null): Session | null {
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Session;
    return s && isLogin(s.login) && typeof s.receivedAt === 'number' ? s : null;
  } catch {
    return null;
  }
}

export function loadSession(storage: Storage = localStorage): Session | null {
  try {
    return parseSession(storage.getItem(KEY));
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null, storage: Storage = localStorage): void {
  try {
    if (s) storage.setItem(KEY, JSON.stringify(s));
    else storage.removeItem(KEY);
  } catch {
    /* private mode: the session lives in memory only */
  }
}

export const SESSION_STORAGE_KEY = KEY;

export function displayName(l: Pick<LoginObject, 'firstName' | 'lastName' | 'email'>): string {
  const name = `${l.firstName ?? ''} ${l.lastName ?? ''}`.trim();
  return name || l.email;
}
