import type { Logger } from '../common/log.ts';
import type { Signer, Verifier } from '../protocol/crypto.ts';
import type { VerifiedRoots } from '../protocol/frame.ts';
import type { TerminalBindings } from './bindings.ts';
import type { TerminalConfig } from './config.ts';
import { MqttLink, type Link } from './link.ts';
import { Outbox } from './outbox.ts';
import { TerminalRuntime } from './runtime.ts';

/**
 * The terminal's composition root: the one place that picks the devices (real or simulated), the
 * outbox file, the link and the crypto, and wires them into a runtime. Stop order: the runtime stops
 * taking sales, the link closes, the outbox closes last (everything shown is already on disk).
 */

export interface TerminalParts {
  readonly bindings: TerminalBindings;
  readonly signer: Signer;
  readonly gatewaySignPublicKey: Uint8Array;
  readonly issuerPublicKey: Uint8Array;
  readonly log: Logger;
  readonly verifier?: Verifier;
  readonly roots?: VerifiedRoots;
  readonly random?: () => number;
  /** The broker certificate to pin, when the gateway URL is mqtts:// (gateway-public.json `mqttCertPem`). */
  readonly mqttCertPem?: string;
  /** Wrap the link (simulators inject faults: lost replies, a cut network). */
  readonly wrapLink?: (link: Link) => Link;
}

export interface Terminal {
  readonly runtime: TerminalRuntime;
  readonly outbox: Outbox;
  /** The link as the runtime uses it (wrapped, when a simulator wraps it): the service reports heartbeats on it. */
  readonly link: Link;
  close(): Promise<void>;
}

export function createTerminal(config: TerminalConfig, parts: TerminalParts): Terminal {
  const outbox = new Outbox({ file: config.outboxFile, maxPending: config.maxPending });
  const mqttLink = new MqttLink({
    url: config.gatewayUrl,
    terminalId: config.terminalId,
    signer: parts.signer,
    tokens: outbox,
    auth: config.brokerAuth,
    ...(parts.mqttCertPem ? { tls: { certPem: parts.mqttCertPem } } : {}),
    clock: parts.bindings.clock,
    backoff: { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs },
    connectTimeoutMs: config.connectTimeoutMs,
    keepaliveS: config.keepaliveS,
    log: parts.log.child({ ns: 'terminal.link' }),
    ...(parts.random ? { random: parts.random } : {}),
  });
  const link = parts.wrapLink ? parts.wrapLink(mqttLink) : mqttLink;
  const runtime = new TerminalRuntime({
    config,
    bindings: parts.bindings,
    outbox,
    link,
    signer: parts.signer,
    gatewaySignPublicKey: parts.gatewaySignPublicKey,
    issuerPublicKey: parts.issuerPublicKey,
    log: parts.log.child({ ns: 'terminal.runtime' }),
    ...(parts.verifier ? { verifier: parts.verifier } : {}),
    ...(parts.roots ? { roots: parts.roots } : {}),
  });
  runtime.start();
  return {
    runtime,
    outbox,
    link,
    async close() {
      await runtime.stop();
      outbox.close();
    },
  };
}
