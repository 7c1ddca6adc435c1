import type { Logger } from '../common/log.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { fromB64url, naclSigner, nodeSigner, NodeVerifier, type Verifier } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import type { VerifiedRoots } from '../protocol/frame.ts';
import type { GatewayPublicKeys } from '../gateway/keys.ts';
import { parseConfig } from '../common/config.ts';
import { TerminalConfigSchema, type TerminalConfig } from '../terminal/config.ts';
import type { Clock } from '../terminal/bindings.ts';
import type { Outcome } from '../terminal/lifecycle.ts';
import type { Screen } from '../terminal/screens.ts';
import { simBindings, type CardSource, type SimBindings } from '../terminal/sim-bindings.ts';
import { createTerminal, type Terminal } from '../terminal/terminal.ts';
import type { CardHolder } from './card-holder.ts';
import { FaultyLink } from './faulty-link.ts';

/**
 * A whole simulated terminal: the real runtime, outbox and MQTT link, with simulated devices. Usable from
 * tests, the demo and the command line. By default it signs and verifies with tweetnacl, as a terminal
 * does; `crypto: 'node'` uses node:crypto for load tests with many terminals in one process.
 */

export interface SimTerminalOptions {
  readonly terminalId: string;
  /** The terminal's private seed (base64url or bytes), as provisioned. */
  readonly seed: string | Uint8Array;
  readonly gatewayUrl: string;
  readonly gateway: GatewayPublicKeys;
  readonly outboxFile: string;
  readonly benefits?: readonly Benefit[];
  readonly config?: Partial<TerminalConfig>;
  readonly crypto?: 'tweetnacl' | 'node';
  readonly roots?: VerifiedRoots;
  readonly log: Logger;
  readonly onShow?: (screen: Screen) => void;
  /** Where taps by card number get their (genuine, issuer-signed) cards. */
  readonly cards?: CardSource;
  /** The terminal's clock (the system's by default): a test sets it wrong. */
  readonly clock?: Clock;
}

export class SimTerminal {
  readonly terminalId: string;
  readonly bindings: SimBindings;
  readonly terminal: Terminal;
  readonly link: FaultyLink;

  private constructor(terminalId: string, bindings: SimBindings, terminal: Terminal, link: FaultyLink) {
    this.terminalId = terminalId;
    this.bindings = bindings;
    this.terminal = terminal;
    this.link = link;
  }

  static start(o: SimTerminalOptions): SimTerminal {
    const seed = typeof o.seed === 'string' ? fromB64url(o.seed, 32, `seed of ${o.terminalId}`) : o.seed;
    const config = parseConfig(
      TerminalConfigSchema,
      { terminalId: o.terminalId, gatewayUrl: o.gatewayUrl, outboxFile: o.outboxFile, benefits: o.benefits ?? ['SPORT'], ...o.config },
      `terminal ${o.terminalId}`,
    );
    const node = o.crypto === 'node';
    const verifier: Verifier | undefined = node ? new NodeVerifier() : undefined;
    const bindings = simBindings({ gateway: o.gateway, ...(o.cards ? { cards: o.cards } : {}), ...(o.onShow ? { onShow: o.onShow } : {}), ...(verifier ? { verifier } : {}), ...(o.clock ? { clock: o.clock } : {}) });
    let faulty: FaultyLink | undefined;
    const terminal = createTerminal(config, {
      bindings,
      signer: node ? nodeSigner(seed) : naclSigner(seed),
      gatewaySignPublicKey: o.gateway.signPublicKey,
      issuerPublicKey: o.gateway.issuerPublicKey,
      ...(o.gateway.mqttCertPem ? { mqttCertPem: o.gateway.mqttCertPem } : {}),
      log: o.log.child({ terminalId: o.terminalId }),
      wrapLink: (l) => (faulty = new FaultyLink(l)),
      ...(verifier ? { verifier } : {}),
      ...(o.roots ? { roots: o.roots } : {}),
    });
    return new SimTerminal(o.terminalId, bindings, terminal, faulty!);
  }

  get runtime() {
    return this.terminal.runtime;
  }

  /**
   * Wait (bounded) until the MQTT link is up. A broker that refuses the terminal is not silence: the
   * refusal's code (LINK_REFUSED, LINK_NOT_AUTHORIZED) is thrown as soon as it is known.
   */
  async waitUntilUp(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.runtime.linkUp()) {
      const refusal = this.runtime.linkRefusal();
      if (refusal) throw new PasserelleError(refusal.code, `${this.terminalId}: the broker refused the connection (MQTT ${refusal.returnCode}, ${refusal.reason})`);
      if (Date.now() > until) throw new PasserelleError('NO_REPLY', `${this.terminalId}: link not up after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The cashier keys in the sale; the youth taps the card. */
  sellWithCard(holder: CardHolder, benefit: Benefit, amount: number): Promise<Outcome> {
    const sale = this.runtime.sale(benefit, amount);
    holder.tapCard(this.bindings);
    return sale;
  }

  /** The cashier keys in the sale; the youth shows the QR code, then types a code on the pad. */
  sellWithQr(holder: CardHolder, benefit: Benefit, amount: number, code: string | null = holder.pin): Promise<Outcome> {
    const sale = this.runtime.sale(benefit, amount);
    holder.showQr(this.bindings);
    holder.typeCode(this.bindings, code);
    return sale;
  }

  close(): Promise<void> {
    return this.terminal.close();
  }
}
