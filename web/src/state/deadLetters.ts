import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, type Api } from '../lib/api';
import type { DeadLetter, DeadLetterCounts, DeadLetterFilter, DeadLetterSelection } from '../lib/types';

/** How often the dead letters and their counts refresh while the page is visible. */
export const DEAD_LETTERS_POLL_MS = 3000;
/** Rows shown at first, and added by each "Show older"; the API's limit caps them at 500. */
export const DEAD_LETTERS_PAGE = 50;
const MAX_SHOWN = 500;

function plural(n: number, one: string): string {
  return `${n.toLocaleString()} ${one}${n === 1 ? '' : 's'}`;
}

function errorText(e: unknown, what: string): string {
  if (e instanceof ApiError) return e.serverMessage ?? (e.isUnavailable ? `${what}: the server is unavailable right now.` : e.message);
  return `${what} failed.`;
}

/** What a replay or discard answered, as one sentence. */
export interface Notice {
  ok: boolean;
  text: string;
}

/**
 * The dead letters of mom's work queues for the System page: the counts and the newest rows
 * matching `filter`, polled while mounted and the tab is visible (the last figures stay on an
 * error), the selection, and replay/discard, after which both reload at once.
 */
export function useDeadLetters(api: Api, pollMs = DEAD_LETTERS_POLL_MS) {
  const [counts, setCounts] = useState<DeadLetterCounts | null>(null);
  const [rows, setRows] = useState<DeadLetter[] | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [shown, setShown] = useState(DEAD_LETTERS_PAGE);
  const [filter, setFilterState] = useState<DeadLetterFilter>({});
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // Answers to an older request (an earlier filter) never overwrite a newer one's.
  const generation = useRef(0);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      const mine = ++generation.current;
      try {
        const [c, page] = await Promise.all([api.deadLetterCounts(signal), api.deadLetters({ ...filter, limit: shown }, signal)]);
        if (mine !== generation.current) return;
        setCounts(c);
        setRows(page.deadLetters);
        setHasMore(page.hasMore);
        setLoadError(null);
        const ids = new Set(page.deadLetters.map((d) => d.id));
        setSelected((s) => new Set([...s].filter((id) => ids.has(id))));
      } catch (e) {
        if (signal?.aborted || mine !== generation.current) return;
        setLoadError(errorText(e, 'Loading the dead letters'));
      }
    },
    [api, filter, shown],
  );

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ctrl: AbortController | null = null;
    const tick = async () => {
      if (stopped) return;
      if (document.visibilityState !== 'hidden') {
        ctrl = new AbortController();
        await load(ctrl.signal);
      }
      if (!stopped) timer = setTimeout(tick, pollMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ctrl?.abort();
    };
  }, [load, pollMs]);

  const act = async (action: 'replay' | 'discard', selection: DeadLetterSelection) => {
    setBusy(true);
    setNotice(null);
    try {
      if (action === 'replay') {
        const r = await api.replayDeadLetters(selection);
        const left = r.notReplayable > 0 ? ` ${plural(r.notReplayable, 'dead letter')} cannot be replayed and stayed.` : '';
        setNotice({ ok: true, text: `Replayed ${plural(r.replayed, 'dead letter')}.${left}` });
      } else {
        const r = await api.discardDeadLetters(selection);
        setNotice({ ok: true, text: `Discarded ${plural(r.discarded, 'dead letter')}.` });
      }
      setSelected(new Set());
    } catch (e) {
      setNotice({ ok: false, text: errorText(e, action === 'replay' ? 'The replay' : 'The discard') });
    } finally {
      setBusy(false);
      await load();
    }
  };

  const setFilter = (next: DeadLetterFilter) => {
    setSelected(new Set());
    setShown(DEAD_LETTERS_PAGE);
    setFilterState(next);
  };

  const toggle = (id: number) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return {
    counts,
    rows,
    /** More match than are shown, and "Show older" can still add some. */
    canShowMore: hasMore && shown < MAX_SHOWN,
    showMore: () => setShown((n) => Math.min(n + DEAD_LETTERS_PAGE, MAX_SHOWN)),
    filter,
    setFilter,
    selected,
    toggle,
    setSelected,
    busy,
    notice,
    loadError,
    act,
  };
}
