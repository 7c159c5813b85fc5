import type { ApiError } from '../lib/api';
import { Store } from './store';

/** The "service unavailable" banner: shown while the API cannot be reached, gone when it answers. */
export class BannerStore extends Store<{ text: string | null }> {
  constructor() {
    super({ text: null });
  }

  readonly show = (e: ApiError): void =>
    this.update({
      text:
        e.kind === 'http'
          ? `The service is unavailable right now${e.serverMessage ? ` (${e.serverMessage.replace(/[.\s]+$/, '')})` : ''}. Please try again in a moment.`
          : `${e.message} Check your connection; the panel keeps trying.`,
    });

  readonly hide = (): void => {
    if (this.get().text !== null) this.update({ text: null });
  };
}
