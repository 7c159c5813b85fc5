import { useSyncExternalStore } from 'react';

/**
 * A value that changes over time and tells its subscribers. Each state store of the panel is one
 * of these, so its logic runs and is tested without React; components read it with `useStore`.
 */
export class Store<T> {
  private listeners = new Set<() => void>();

  constructor(private state: T) {}

  /** The current snapshot. A new object after every change, so React sees the change. */
  readonly get = (): T => this.state;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  protected update(patch: Partial<T> | ((s: T) => Partial<T>)): void {
    const p = typeof patch === 'function' ? patch(this.state) : patch;
    this.state = { ...this.state, ...p };
    for (const l of [...this.listeners]) l();
  }
}

export function useStore<T>(store: Store<T>): T {
  return useSyncExternalStore(store.subscribe, store.get);
}
