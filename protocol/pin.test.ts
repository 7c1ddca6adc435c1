import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { codeOf as code } from '../tests/helpers/errors.ts';
import { openPin, sealPin } from './pin.ts';

const gateway = nacl.box.keyPair();
const TXN = '0b5e7f0e-8a3c-4d2b-9f1e-2c3d4e5f6a7b';

describe('sealed secret code', () => {
  it('opens for its transaction with the gateway key', () => {
    expect(openPin(sealPin('0420', TXN, gateway.publicKey), TXN, gateway.secretKey)).toBe('0420');
  });

  it('two seals of the same code differ (fresh ephemeral key and nonce)', () => {
    expect(sealPin('1234', TXN, gateway.publicKey)).not.toBe(sealPin('1234', TXN, gateway.publicKey));
  });

  it('cannot be replayed for another sale, opened with another key, or altered', async () => {
    const block = sealPin('1234', TXN, gateway.publicKey);
    expect(await code(() => openPin(block, TXN.replace('0b', '0c'), gateway.secretKey))).toBe('PIN_BLOCK_INVALID');
    expect(await code(() => openPin(block, TXN, nacl.box.keyPair().secretKey))).toBe('PIN_BLOCK_INVALID');
    const raw = Buffer.from(block, 'base64url');
    raw[70] = (raw[70] ?? 0) ^ 1;
    expect(await code(() => openPin(raw.toString('base64url'), TXN, gateway.secretKey))).toBe('PIN_BLOCK_INVALID');
    expect(await code(() => openPin('AAAA', TXN, gateway.secretKey))).toBe('PIN_BLOCK_INVALID');
  });

  it('only seals 4 digits', async () => {
    for (const bad of ['123', '12345', 'abcd', '12 4', '']) expect(await code(() => sealPin(bad, TXN, gateway.publicKey))).toBe('PIN_BLOCK_INVALID');
  });
});
