import type { Link, LinkHandlers } from '../terminal/link.ts';

/**
 * A link that loses what a test tells it to: the next N replies (as if the network dropped them after the
 * gateway sent them), or every outgoing request while `cut` is set. Everything else passes through.
 */
export class FaultyLink implements Link {
  readonly #inner: Link;
  #dropReplies = 0;
  cut = false;
  readonly dropped: Buffer[] = [];

  constructor(inner: Link) {
    this.#inner = inner;
  }

  dropNextReplies(n: number): void {
    this.#dropReplies += n;
  }

  start(handlers: LinkHandlers): void {
    this.#inner.start({
      ...handlers,
      reply: (payload) => {
        if (this.#dropReplies > 0) {
          this.#dropReplies--;
          this.dropped.push(payload);
          return;
        }
        handlers.reply(payload);
      },
    });
  }

  isUp(): boolean {
    return !this.cut && this.#inner.isUp();
  }

  send(frame: Buffer): boolean {
    return !this.cut && this.#inner.send(frame);
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }
}
