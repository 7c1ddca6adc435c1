import type { Logger } from '../../common/log.ts';
import { CODES } from '../../protocol/codes.ts';
import type { Verifier } from '../../protocol/crypto.ts';
import { decodeFrame, decodeFrameWithin, verifyFrame, type VerifiedRoots } from '../../protocol/frame.ts';

/**
 * Nothing from the gateway is trusted before its signature (or its batch's) verifies with the gateway's
 * key, received at provisioning: replies and pushed documents alike. What fails is logged and dropped;
 * the record it would have answered stays pending and is sent again.
 */

/** The message a frame signed by the gateway carries, or undefined when it is unreadable or not the gateway's. */
export type OpenSigned = (payload: Buffer, maxBytes?: number) => Buffer | undefined;

export function openSignedByGateway(d: { readonly gatewaySignPublicKey: Uint8Array; readonly verifier: Verifier; readonly roots: VerifiedRoots; readonly log: Logger }): OpenSigned {
  return (payload, maxBytes) => {
    try {
      const frame = maxBytes === undefined ? decodeFrame(payload) : decodeFrameWithin(payload, maxBytes);
      if (!verifyFrame(frame, d.gatewaySignPublicKey, d.verifier, d.roots)) {
        d.log.warn({ code: 'REPLY_BAD_SIGNATURE' }, CODES.REPLY_BAD_SIGNATURE.en);
        return undefined;
      }
      return frame.message;
    } catch (e) {
      d.log.warn({ err: e }, 'unreadable message from the gateway ignored');
      return undefined;
    }
  };
}
