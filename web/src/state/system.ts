import { useEffect, useRef, useState } from 'react';
import { ApiError, type Api } from '../lib/api';
import type { HistoryReport, QueueInfo, QueuesReport } from '../lib/types';

/** How often the System page asks for the queues. */
export const QUEUES_POLL_MS = 2000;
/** Depths kept per queue for its sparkline: one minute at the poll interval. */
export const QUEUE_HISTORY = 30;
/** How often the System page asks for the per-minute history (its buckets are minutes). */
export const HISTORY_POLL_MS = 30000;

/** Appends each queue's depth to its history, keeping the last `limit`. */
export function recordDepths(history: Map<string, number[]>, queues: QueueInfo[], limit = QUEUE_HISTORY): void {
  for (const q of queues) {
    const h = history.get(q.name) ?? [];
    h.push(typeof q.messages === 'number' ? q.messages : 0);
    if (h.length > limit) h.shift();
    history.set(q.name, h);
  }
}

function errorText(what: string, route: string, e: unknown): string {
  if (e instanceof ApiError && e.status === 404) return `This backend does not report ${what} (GET ${route} is missing).`;
  if (e instanceof ApiError) return e.isUnavailable ? `The ${what} are unavailable right now.` : e.message;
  return `The ${what} could not be loaded.`;
}

/**
 * Calls `load` now and every `everyMs` while mounted and the tab is visible, handing each answer
 * to `received`; on an error the last answer stays and the error text is returned.
 */
function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, describe: (e: unknown) => string, received: (t: T) => void) {
  const [error, setError] = useState<string | null>(null);
  const latest = useRef({ load, describe, received });
  latest.current = { load, describe, received };

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ctrl: AbortController | null = null;
    const tick = async () => {
      if (stopped) return;
      if (document.visibilityState !== 'hidden') {
        ctrl = new AbortController();
        try {
          const answer = await latest.current.load(ctrl.signal);
          if (stopped) return;
          latest.current.received(answer);
          setError(null);
        } catch (e) {
          if (stopped) return;
          setError(latest.current.describe(e));
        }
      }
      if (!stopped) timer = setTimeout(tick, everyMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ctrl?.abort();
    };
  }, [everyMs]);

  return error;
}

/** `GET /system/queues` every 2 s, with each queue's recent depths and the API process's consumers. */
export function useQueues(api: Api) {
  const [report, setReport] = useState<QueuesReport | null>(null);
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);
  const history = useRef(new Map<string, number[]>());
  const error = usePolling(
    (signal) => api.queues(signal),
    QUEUES_POLL_MS,
    (e) => errorText('queue statistics', '/system/queues', e),
    (r) => {
      const queues = Array.isArray(r?.queues) ? [...r.queues].sort((a, b) => a.name.localeCompare(b.name)) : [];
      const consumers = Array.isArray(r?.consumers) ? r.consumers : [];
      recordDepths(history.current, queues);
      setReport({ source: r?.source ?? 'unknown', queues, consumers });
      setUpdatedAt(new Date());
    },
  );
  return { report, error, updatedAt, history: history.current };
}

/** `GET /system/history` (jobs per minute over the last hour) on mount and every 30 s. */
export function useHistory(api: Api) {
  const [history, setHistory] = useState<HistoryReport | null>(null);
  const error = usePolling(
    (signal) => api.history(signal),
    HISTORY_POLL_MS,
    (e) => errorText('history figures', '/system/history', e),
    (r) => setHistory({ minutes: Array.isArray(r?.minutes) ? r.minutes : [] }),
  );
  return { history, error };
}
