import type { Link, LinkHandlers, LinkRefusal } from '../terminal/link.ts';

/**
 * A link that loses what a test tells it to: the next N replies (as if the network dropped them after the
 * gateway sent them), or every outgoing request while `cut` is set. Everything else passes through.
 */
export class FaultyLink implements Link {
  readonly #inner: Link;
  #dropReplies = 0;
  #cut = false;
  #handlers: LinkHandlers | undefined;
  readonly dropped: Buffer[] = [];
  readonly #watchers = new Set<(payload: Buffer) => void>();

  constructor(inner: Link) {
    this.#inner = inner;
  }

  dropNextReplies(n: number): void {
    this.#dropReplies += n;
  }

  /** While set, the link looks down and sends nothing; setting or clearing it tells the runtime, as a real loss of the network would. */
  get cut(): boolean {
    return this.#cut;
  }

  set cut(value: boolean) {
    if (value === this.#cut) return;
    this.#cut = value;
    if (!this.#inner.isUp()) return;
    if (value) this.#handlers?.down();
    else this.#handlers?.up();
  }

  start(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    this.#inner.start({
      ...handlers,
      up: () => {
        if (!this.#cut) handlers.up();
      },
      down: () => {
        if (!this.#cut) handlers.down();
      },
      reply: (payload) => {
        if (this.#cut) return; // nothing comes through a cut network
        if (this.#dropReplies > 0) {
          this.#dropReplies--;
          this.dropped.push(payload);
          return;
        }
        handlers.reply(payload);
        for (const w of this.#watchers) w(payload);
      },
    });
  }

  /** Hand the runtime a pushed document as if the broker delivered it (what a broker in the middle could send). */
  deliverPush(topic: string, payload: Buffer, retained: boolean): void {
    this.#handlers?.push(topic, payload, retained);
  }

  /** Also hand every reply that comes through (after any drop) to `fn`, until the returned function is called. */
  watchReplies(fn: (payload: Buffer) => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  isUp(): boolean {
    return !this.#cut && this.#inner.isUp();
  }

  refusal(): LinkRefusal | undefined {
    return this.#inner.refusal();
  }

  send(frame: Buffer): boolean {
    return !this.#cut && this.#inner.send(frame);
  }

  report(frame: Buffer): boolean {
    return !this.#cut && this.#inner.report(frame);
  }

  follow(topic: string, on: boolean): void {
    this.#inner.follow(topic, on);
  }

  stop(): Promise<void> {
    return this.#inner.stop();
  }
}
