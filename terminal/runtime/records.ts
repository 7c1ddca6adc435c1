import type { Signer } from '../../protocol/crypto.ts';
import { debitRequest, encodeJson, voidRequest } from '../../protocol/debit.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import type { DebitRequestBody, VoidRequestBody } from '../../protocol/messages.ts';
import type { Clock } from '../bindings.ts';
import type { Mode, OutboxEntry, RecordStore, TrustStore } from '../outbox-store.ts';
import type { CredentialDraft, Sale } from '../sale.ts';

/**
 * Building and signing the terminal's records. The outbox hands out the next sequence number and the
 * chain's head inside its transaction; the request is built with them, signed, and committed as one row,
 * so the bytes on disk are the bytes sent and every resend repeats them exactly.
 */

export interface RecordWriterDeps {
  readonly outbox: Pick<RecordStore, 'append'> & Pick<TrustStore, 'hotlistState' | 'policy'>;
  readonly signer: Signer;
  readonly terminalId: string;
  readonly clock: Pick<Clock, 'now'>;
  /** Mints the id of a void; a sale's id is minted before the card is read (the card signs under it). */
  readonly newTxnId: () => string;
}

export class RecordWriter {
  readonly #d: RecordWriterDeps;

  constructor(d: RecordWriterDeps) {
    this.#d = d;
  }

  /**
   * Commit a sale. It names the hotlist and policy versions the terminal held when it sold, so the
   * gateway can tell an offline sale judged on stale documents.
   */
  sale(txnId: string, sale: Sale, credential: CredentialDraft, mode: Mode): OutboxEntry {
    const o = this.#d.outbox;
    return o.append((seq, prev) => {
      const createdAt = this.#d.clock.now();
      const body: DebitRequestBody = {
        txnId,
        terminalId: this.#d.terminalId,
        seq,
        prev,
        createdAt,
        mode,
        hotlist: o.hotlistState().version,
        policy: o.policy()?.version ?? 0,
        credential,
        benefit: sale.benefit,
        amount: sale.amount,
        unit: sale.unit,
      };
      const message = encodeJson(debitRequest(body));
      return { txnId, kind: 'sale', mode, card: credential.cardNumber, benefit: sale.benefit, unit: sale.unit, amount: sale.amount, createdAt, message, frame: this.#signed(message) };
    });
  }

  /** A void is committed even when the outbox is at its limit: it can only take value off the gateway. */
  voidSale(target: string, reason: VoidRequestBody['reason']): OutboxEntry {
    const { outbox, terminalId, clock } = this.#d;
    const txnId = this.#d.newTxnId();
    return outbox.append(
      (seq, prev) => {
        const createdAt = clock.now();
        const body: VoidRequestBody = { txnId, terminalId, seq, prev, createdAt, target, reason };
        const message = encodeJson(voidRequest(body));
        return { txnId, kind: 'void', target, createdAt, message, frame: this.#signed(message), ...(reason === 'cancelled' ? { cancellation: true } : {}) };
      },
      { ignoreLimit: true },
    );
  }

  #signed(message: Buffer): Buffer {
    return encodeDirect(message, this.#d.signer.sign(message));
  }
}
