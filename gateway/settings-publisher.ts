import type { Logger } from '../common/log.ts';
import type { Signer } from '../protocol/crypto.ts';
import { encodeJson } from '../protocol/debit.ts';
import { encodeDirect } from '../protocol/frame.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { settingsTopic, type TerminalSettings } from '../protocol/terminal-settings.ts';
import type { Ledger } from './ledger/ledger.ts';

/**
 * Pushes each terminal's settings (protocol/terminal-settings.ts), signed with the gateway key and retained
 * on the terminal's own settings topic: when they are set, and all of them again at start (the embedded
 * broker keeps retained messages in memory only). A terminal connecting later gets the retained copy.
 */
export interface SettingsPublisherOptions {
  readonly ledger: Ledger;
  readonly signer: Signer;
  readonly publishRetained: (topic: string, payload: Buffer) => void;
  readonly log: Logger;
}

export class SettingsPublisher {
  readonly #o: SettingsPublisherOptions;

  constructor(o: SettingsPublisherOptions) {
    this.#o = o;
  }

  publish(s: TerminalSettings): void {
    const message = encodeJson({ v: PROTOCOL_VERSION, type: 'terminal.settings', body: s });
    this.#o.publishRetained(settingsTopic(s.terminalId), encodeDirect(message, this.#o.signer.sign(message)));
    this.#o.log.info({ terminalId: s.terminalId, version: s.version }, 'terminal settings pushed');
  }

  /** Returns how many were pushed. */
  async publishAll(): Promise<number> {
    const all = await this.#o.ledger.allTerminalSettings();
    for (const s of all) this.publish(s);
    return all.length;
  }
}
