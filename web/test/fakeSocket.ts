/** A stand-in for a socket.io client socket: records emits, lets the test fire server events. */
export class FakeSocket {
  connected = false;
  handlers = new Map<string, ((...a: unknown[]) => void)[]>();
  emitted: [string, unknown][] = [];
  disconnected = false;
  on(ev: string, fn: (...a: unknown[]) => void) {
    this.handlers.set(ev, [...(this.handlers.get(ev) ?? []), fn]);
    return this;
  }
  fire(ev: string, ...args: unknown[]) {
    if (ev === 'connect') this.connected = true;
    if (ev === 'disconnect') this.connected = false;
    for (const fn of this.handlers.get(ev) ?? []) fn(...args);
  }
  emit(ev: string, arg?: unknown) {
    this.emitted.push([ev, arg]);
    return this;
  }
  timeout() {
    return { emit: (ev: string, cb: () => void) => (this.emitted.push([ev, undefined]), cb()) };
  }
  removeAllListeners() {
    this.handlers.clear();
  }
  disconnect() {
    this.disconnected = true;
    this.connected = false;
  }
}
