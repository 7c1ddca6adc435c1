/**
 * The contactless seam below the card application: a reader that reports cards entering its field and
 * exchanges APDUs with them. The real implementation drives nfc-pcsc over PC/SC (`pcsc.ts`); the
 * simulated one hands APDUs to a card emulated in Node (`simulators/card.ts`). The card application
 * (`terminal/card-reader.ts`) runs the same SELECT / GET DATA / INTERNAL AUTHENTICATE sequence over both.
 *
 * Errors are PasserelleErrors with stable codes:
 *  - CARD_REMOVED: the card left the field during an exchange;
 *  - NFC_READER_UNAVAILABLE: no reader, or the reader vanished or failed;
 *  - CARD_READ_FAILED: an exchange timed out or the transport failed otherwise.
 */

/** One card in one reader's field, from the moment it is seen until it leaves. */
export interface CardSession {
  /** The reader's name, as PC/SC reports it. */
  readonly reader: string;
  /** The card's UID in hex, for logs only: a UID is never trusted (it is trivially copied). */
  readonly uid: string;
  /** Aborted when the card leaves the field or its reader goes away. */
  readonly gone: AbortSignal;
  /**
   * Send one command APDU and return the whole response APDU (data ‖ SW1 SW2). Rejects with
   * CARD_REMOVED, NFC_READER_UNAVAILABLE, or CARD_READ_FAILED after `timeoutMs`.
   */
  transmit(apdu: Uint8Array, timeoutMs: number): Promise<Buffer>;
}

export interface ContactlessReader {
  /**
   * Resolves with the next card that enters the field of any connected reader. Rejects with the
   * signal's reason when aborted. A card already in the field when the call starts counts once it is
   * presented again (the caller asks the youth to take the card away after each sale).
   */
  waitForCard(signal: AbortSignal): Promise<CardSession>;
  /** Names of the readers connected now (for the self-test and the status line). */
  readers(): readonly string[];
  /** Release PC/SC (or the simulation); pending waits reject with NFC_READER_UNAVAILABLE. */
  close(): Promise<void>;
}
