import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../protocol/card.ts';
import { CHALLENGE_BYTES, challengeMessage, issueCredential, PASS_REGION_AID, SW } from '../protocol/card-app.ts';
import { nodeSigner, NodeVerifier, publicKeyFromSeed } from '../protocol/crypto.ts';
import { cardFromCredential } from './card.ts';

/** A card built from a credential the gateway signed (its personalisation route) and the chip seed that asked for it. */

const CARD = cardNumberFrom('825000000000777');
const issuer = nodeSigner(randomBytes(32));
const credentialFor = (chipSeed: Uint8Array) => issueCredential({ cardNumber: CARD, expiry: '2099-12-31', cardPublicKey: publicKeyFromSeed(chipSeed), issuerKeyIndex: 1 }, issuer).encoded;

describe('cardFromCredential', () => {
  it('gives the chip that asked for the credential: it returns those bytes and signs with its own key', () => {
    const seed = randomBytes(32);
    const encoded = credentialFor(seed);
    const card = cardFromCredential(encoded, seed);
    expect(card.cardNumber).toBe(CARD);
    const select = card.handle(Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, PASS_REGION_AID.length]), PASS_REGION_AID, Buffer.from([0x00])]));
    expect(select.readUInt16BE(select.length - 2)).toBe(SW.OK);
    const getData = card.handle(Buffer.from([0x80, 0xca, 0xdf, 0x20, 0x00]));
    expect(getData.subarray(0, -2).equals(encoded)).toBe(true);
    const challenge = randomBytes(CHALLENGE_BYTES);
    const auth = card.handle(Buffer.concat([Buffer.from([0x00, 0x88, 0x00, 0x00, challenge.length]), challenge]));
    expect(auth.readUInt16BE(auth.length - 2)).toBe(SW.OK);
    expect(new NodeVerifier().verify(challengeMessage(challenge), auth.subarray(0, -2), publicKeyFromSeed(seed))).toBe(true);
  });

  it('refuses a credential signed for another chip: it could not be written on this one', () => {
    expect(() => cardFromCredential(credentialFor(randomBytes(32)), randomBytes(32))).toThrow(expect.objectContaining({ code: 'DATA_INVALID' }));
  });
});
