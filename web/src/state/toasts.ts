import { Store } from './store';

export interface Toast {
  id: number;
  kind: 'success' | 'error' | 'info';
  title: string;
  body?: string;
  link?: { to: string; label: string };
}

/** The last few notifications; the oldest goes when a fifth arrives. */
export class ToastStore extends Store<{ toasts: Toast[] }> {
  private nextId = 1;

  constructor() {
    super({ toasts: [] });
  }

  readonly push = (t: Omit<Toast, 'id'>): number => {
    const id = this.nextId++;
    this.update((s) => ({ toasts: [...s.toasts.slice(-3), { ...t, id }] }));
    return id;
  };

  readonly dismiss = (id: number): void => this.update((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));

  readonly clear = (): void => this.update({ toasts: [] });
}
