import type { MqttClient } from 'mqtt';
import { connectMqttAsync } from '../../common/mqtt.ts';
import { makeConnectToken, type ConnectClaims } from '../../protocol/connect-token.ts';
import { fromB64url, NodeVerifier, nodeSigner, type Signer } from '../../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { decodeFrame, encodeDirect, verifyFrame } from '../../protocol/frame.ts';
import { parseJson, Reply, type DebitRequestBody } from '../../protocol/messages.ts';
import { replyTopic, requestTopic } from '../../protocol/topics.ts';

const lastTokenMs = new Map<string, number>();

/**
 * Connect claims for a test client: a token time later than any this process used for that terminal
 * (tokens are single-use), and an outbox head (0 by default: a raw terminal keeps no outbox).
 */
export function freshClaims(terminalId: string, head = 0): ConnectClaims {
  const ms = Math.max(Date.now(), (lastTokenMs.get(terminalId) ?? 0) + 1);
  lastTokenMs.set(terminalId, ms);
  return { ms, head };
}

/**
 * A bare MQTT client holding a terminal's key: sends exactly the bytes a test wants (forged, conflicting,
 * malformed) and collects the verified replies. It checks every reply's signature with the gateway key.
 */
export class RawTerminal {
  readonly replies: Reply[] = [];
  readonly #waiters: { corr: string; resolve: (r: Reply) => void }[] = [];

  private constructor(
    readonly terminalId: string,
    readonly signer: Signer,
    readonly client: MqttClient,
    readonly gatewaySignPublicKey: Uint8Array,
  ) {
    const verifier = new NodeVerifier();
    client.on('message', (_topic, payload) => {
      const frame = decodeFrame(payload);
      if (!verifyFrame(frame, gatewaySignPublicKey, verifier)) throw new Error('reply signature does not verify');
      const reply = parseJson(Reply, frame.message, 'reply');
      this.replies.push(reply);
      const i = this.#waiters.findIndex((w) => w.corr === reply.corr);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(reply);
    });
  }

  static async connect(url: string, terminalId: string, seed: string, gatewaySignPublicKey: Uint8Array, token?: string): Promise<RawTerminal> {
    const signer = nodeSigner(fromB64url(seed, 32, 'seed'));
    const client = await connectMqttAsync(url, {
      clientId: terminalId,
      username: terminalId,
      password: token ?? makeConnectToken(terminalId, signer, freshClaims(terminalId)),
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });
    await client.subscribeAsync(replyTopic(terminalId), { qos: 1 });
    return new RawTerminal(terminalId, signer, client, gatewaySignPublicKey);
  }

  /** Wait (bounded) for the reply whose corr is `corr`. */
  waitFor(corr: string, timeoutMs = 3000): Promise<Reply> {
    const got = this.replies.find((r) => r.corr === corr);
    if (got) return Promise.resolve(got);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply with corr ${JSON.stringify(corr)} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({ corr, resolve: (r) => (clearTimeout(t), resolve(r)) });
    });
  }

  signedFrame(body: DebitRequestBody, signer: Signer = this.signer): Buffer {
    const message = encodeJson(debitRequest(body));
    return encodeDirect(message, signer.sign(message));
  }

  publish(payload: Buffer | string, topic = requestTopic(this.terminalId)): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1 });
  }

  async send(body: DebitRequestBody): Promise<Reply> {
    await this.publish(this.signedFrame(body));
    return this.waitFor(body.txnId);
  }

  #closed = false;

  /** Idempotent. (mqtt.js never calls back from `end` on a socket the broker already closed.) */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.client.endAsync(true);
  }
}
