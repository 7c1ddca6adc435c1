import type { Logger } from '../common/log.ts';
import type { Benefit } from '../protocol/benefits.ts';
import type { Code } from '../protocol/codes.ts';
import { fromB64url, naclSigner, naclVerifier, nodeSigner, NodeVerifier, type Signer, type Verifier } from '../protocol/crypto.ts';
import { assert, PasserelleError } from '../protocol/errors.ts';
import type { VerifiedRoots } from '../protocol/frame.ts';
import type { GatewayPublicKeys } from '../protocol/gateway-keys.ts';
import { parseConfig } from '../common/config.ts';
import { TerminalConfigSchema, type TerminalConfig } from '../terminal/config.ts';
import type { Clock } from '../terminal/bindings.ts';
import type { Outcome } from '../terminal/sale.ts';
import type { SaleEntry } from '../terminal/outbox-store.ts';
import type { Screen } from '../terminal/screens.ts';
import { simBindings, type CardSource, type SimBindings } from './sim-bindings.ts';
import { createTerminal, type Terminal } from '../terminal/terminal.ts';
import type { CardHolder } from './card-holder.ts';
import { FaultyLink } from './faulty-link.ts';
import { nextAnswer, otherContent, type RepeatAnswer, type RepeatContent } from './repeat.ts';

/**
 * A whole simulated terminal: the real runtime, outbox and MQTT link, with simulated devices. Usable from
 * tests, the demo and the command line. It signs and verifies with node:crypto, as a terminal does
 * (protocol/crypto.ts); `crypto: 'tweetnacl'` runs the same terminal on the pure-JavaScript library, for
 * the interoperability tests (the two accept and produce the same bytes).
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
  /** node:crypto unless 'tweetnacl' (interoperability tests). */
  readonly crypto?: 'tweetnacl' | 'node';
  readonly roots?: VerifiedRoots;
  readonly log: Logger;
  readonly onShow?: (screen: Screen) => void;
  /** Where taps by card number get their (genuine, issuer-signed) cards. */
  readonly cards?: CardSource;
  /** The terminal's clock (the system's by default): a test sets it wrong. */
  readonly clock?: Clock;
}

/** What signs as the terminal and checks the gateway's answers (the card's too): kept for requests sent outside the runtime, and timed by the benchmarks. */
export interface SimTerminalKeys {
  readonly signer: Signer;
  readonly verifier: Verifier;
  readonly gatewaySignPublicKey: Uint8Array;
}

export class SimTerminal {
  readonly terminalId: string;
  readonly bindings: SimBindings;
  readonly terminal: Terminal;
  readonly link: FaultyLink;
  readonly keys: SimTerminalKeys;

  private constructor(terminalId: string, bindings: SimBindings, terminal: Terminal, link: FaultyLink, keys: SimTerminalKeys) {
    this.terminalId = terminalId;
    this.bindings = bindings;
    this.terminal = terminal;
    this.link = link;
    this.keys = keys;
  }

  static start(o: SimTerminalOptions): SimTerminal {
    const seed = typeof o.seed === 'string' ? fromB64url(o.seed, 32, `seed of ${o.terminalId}`) : o.seed;
    const config = parseConfig(
      TerminalConfigSchema,
      { terminalId: o.terminalId, gatewayUrl: o.gatewayUrl, outboxFile: o.outboxFile, benefits: o.benefits ?? ['SPORT'], ...o.config },
      `terminal ${o.terminalId}`,
    );
    const nacl = o.crypto === 'tweetnacl';
    const verifier: Verifier = nacl ? naclVerifier : new NodeVerifier();
    const bindings = simBindings({ gateway: o.gateway, ...(o.cards ? { cards: o.cards } : {}), ...(o.onShow ? { onShow: o.onShow } : {}), verifier, ...(o.clock ? { clock: o.clock } : {}) });
    let faulty: FaultyLink | undefined;
    const signer = nacl ? naclSigner(seed) : nodeSigner(seed);
    const terminal = createTerminal(config, {
      bindings,
      signer,
      gatewaySignPublicKey: o.gateway.signPublicKey,
      issuerPublicKey: o.gateway.issuerPublicKey,
      ...(o.gateway.mqttCertPem ? { mqttCertPem: o.gateway.mqttCertPem } : {}),
      log: o.log.child({ terminalId: o.terminalId }),
      wrapLink: (l) => (faulty = new FaultyLink(l)),
      verifier,
      ...(o.roots ? { roots: o.roots } : {}),
    });
    const keys = { signer, verifier, gatewaySignPublicKey: o.gateway.signPublicKey };
    return new SimTerminal(o.terminalId, bindings, terminal, faulty!, keys);
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

  /**
   * Wait (bounded) until the terminal may sell offline as far as the gateway's documents go: the signed
   * policy, a hotlist, and a signed gateway time (a reply, or a live hotlist refresh). A terminal that never
   * had one is refused offline (docs/offline.md); the first of these it lacks is thrown after the wait.
   */
  async waitUntilOfflineReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (let m = this.offlineReadiness(); m !== undefined; m = this.offlineReadiness()) {
      if (Date.now() > until) throw new PasserelleError(m, `${this.terminalId}: not ready to sell offline after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** What the terminal still lacks to sell offline (the code it would refuse with), or undefined. */
  offlineReadiness(): Code | undefined {
    const o = this.terminal.outbox;
    if (!o.policy()) return 'OFFLINE_NO_POLICY';
    if (o.hotlistState().issuedAt === 0) return 'OFFLINE_HOTLIST_STALE';
    return o.gatewayTime() === undefined ? 'CLOCK_UNTRUSTED' : undefined;
  }

  /** Wait (bounded) until the gateway answered the sale `txnId`; the sale as the outbox then holds it. */
  async waitUntilSettled(txnId: string, timeoutMs: number): Promise<SaleEntry> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const e = this.terminal.outbox.entry(txnId);
      assert(e !== undefined && e.kind === 'sale', `no sale ${txnId} in the outbox of ${this.terminalId}`);
      if (e.state !== 'pending') return e;
      if (Date.now() > until) throw new PasserelleError('NO_REPLY', `${this.terminalId}: record ${txnId} still unanswered after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Send the answered sale `txnId` again, straight to the link (simulators/repeat.ts): the same bytes, or
   * other content under the same id. Resolves with the gateway's answer to it.
   */
  async repeat(txnId: string, content: RepeatContent, timeoutMs = 5000): Promise<RepeatAnswer & { readonly amount: number }> {
    const e = this.terminal.outbox.entry(txnId);
    assert(e !== undefined && e.kind === 'sale' && e.amount !== null && e.state === 'replied', `record ${txnId} is not an answered sale of ${this.terminalId}`);
    const sent = content === 'same' ? { frame: e.frame, amount: e.amount } : otherContent(e.frame, this.keys.signer);
    const watch = nextAnswer({ link: this.link, txnId, recorded: e.reply, gatewaySignPublicKey: this.keys.gatewaySignPublicKey, verifier: this.keys.verifier, timeoutMs });
    if (!this.link.send(sent.frame)) {
      watch.cancel();
      throw new PasserelleError('NO_REPLY', `${this.terminalId}: the link is down, the repeat was not sent`);
    }
    return { ...(await watch.answer), amount: sent.amount };
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
