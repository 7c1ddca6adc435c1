import type { Clock, Display } from '../bindings.ts';
import type { Link } from '../link.ts';
import type { RecordStore } from '../outbox-store.ts';
import { screens, statusLine, type LinkStatus, type Screen } from '../screens.ts';

/**
 * The screen and its status bar: every screen is drawn with the link's state and what waits to be sent
 * under it, and drawn again when that changes. The link can be up with the gateway silent (an online
 * request went unanswered): sales then go offline until a reply arrives, and the bar says so.
 */

export interface StatusBarDeps {
  readonly link: Pick<Link, 'isUp' | 'refusal'>;
  readonly outbox: Pick<RecordStore, 'stats'>;
  readonly display: Display;
  readonly clock: Pick<Clock, 'now'>;
  /** Whether the terminal waits for a sale: the idle screen is then drawn again, rather than the last one. */
  readonly idle: () => boolean;
}

export class StatusBar {
  readonly #d: StatusBarDeps;
  /** An online request went unanswered: sell offline until the gateway answers again. */
  #silent = false;
  /** The screen last drawn, with its status bar: drawn again when the link's state changes. */
  #screen: Screen | undefined;

  constructor(d: StatusBarDeps) {
    this.#d = d;
  }

  /** The link as the status bar tells it: down (refused by the broker, or not reached), up with the gateway answering, or up with it silent. */
  linkStatus(): LinkStatus {
    if (!this.#d.link.isUp()) {
      const refusal = this.#d.link.refusal();
      return refusal ? { state: 'refused', code: refusal.code } : { state: 'offline' };
    }
    return { state: this.#silent ? 'silent' : 'online' };
  }

  /** The gateway left an online request unanswered. */
  get gatewaySilent(): boolean {
    return this.#silent;
  }

  gatewayWentSilent(): void {
    this.#silent = true;
  }

  /** The gateway answered: true when it had been silent (the bar must then be drawn again). */
  gatewayAnswered(): boolean {
    const was = this.#silent;
    this.#silent = false;
    return was;
  }

  /** Draw a screen with the status bar (link, records waiting and the oldest one's age). */
  show(screen: Screen | undefined): void {
    if (!screen) return;
    this.#screen = { ...screen, footer: this.#footer() };
    this.#d.display.show(this.#screen);
  }

  /**
   * The link or the gateway's answering changed: the idle screen is drawn again; any other screen keeps
   * its message and gets the new status bar, so the bar never contradicts what is shown above it.
   */
  changed(): void {
    if (this.#d.idle()) this.show(screens.idle());
    else if (this.#screen && this.#screen.footer !== this.#footer()) this.show(this.#screen);
  }

  #footer(): string {
    return statusLine({ link: this.linkStatus(), ...this.#d.outbox.stats() }, this.#d.clock.now());
  }
}
