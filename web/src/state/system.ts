import { useEffect, useRef, useState } from 'react';
import { ApiError, type Api } from '../lib/api';
import type { QueueInfo, QueuesReport } from '../lib/types';

/** How often the System page asks for the queues. */
export const QUEUES_POLL_MS = 2000;
/** Depths kept per queue for its sparkline: one minute at the poll interval. */
export const QUEUE_HISTORY = 30;

/** Appends each queue's depth to its history, keeping the last `limit`. */
export function recordDepths(history: Map<string, number[]>, queues: QueueInfo[], limit = QUEUE_HISTORY): void {
  for (const q of queues) {
    const h = history.get(q.name) ?? [];
    h.push(typeof q.messages === 'number' ? q.messages : 0);
    if (h.length > limit) h.shift();
    history.set(q.name, h);
  }
}

function queuesErrorText(e: unknown): string {
  if (e instanceof ApiError && e.status === 404) return 'This backend does not report its queues (GET /system/queues is missing).';
  if (e instanceof ApiError) return e.isUnavailable ? 'The queue statistics are unavailable right now.' : e.message;
  return 'The queue statistics could not be loaded.';
}

/**
 * `GET /system/queues` every 2 s while mounted and the tab is visible (the last figures stay on
 * an error), with each queue's recent depths.
 */
export function useQueues(api: Api) {
  const [report, setReport] = useState<QueuesReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [updatedAt, setUpdatedAt] = useState<Date | null>(null);
  const history = useRef(new Map<string, number[]>());

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ctrl: AbortController | null = null;
    const tick = async () => {
      if (stopped) return;
      if (document.visibilityState !== 'hidden') {
        ctrl = new AbortController();
        try {
          const r = await api.queues(ctrl.signal);
          if (stopped) return;
          const queues = Array.isArray(r?.queues) ? [...r.queues].sort((a, b) => a.name.localeCompare(b.name)) : [];
          recordDepths(history.current, queues);
          setReport({ source: r?.source ?? 'unknown', queues });
          setUpdatedAt(new Date());
          setError(null);
        } catch (e) {
          if (stopped) return;
          setError(queuesErrorText(e));
        }
      }
      if (!stopped) timer = setTimeout(tick, QUEUES_POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ctrl?.abort();
    };
  }, [api]);

  return { report, error, updatedAt, history: history.current };
}
