import { afterEach, describe, expect, it } from 'vitest';
import { gatewayKeysFrom } from './keys.ts';
import { defaultVerifier } from '../protocol/crypto.ts';
import { enrolmentAnswerMac, openEnrolmentAnswer, parseEnrolmentCode } from '../protocol/enrolment.ts';
import { makeEnrolmentCode, redeemEnrolmentCode } from './enrolment.ts';
import { SqliteLedger } from './ledger/sqlite.ts';
import { codeOf } from '../tests/helpers/errors.ts';

const NOW = Date.parse('2026-12-04T10:00:00+01:00');
const keys = gatewayKeysFrom(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), new Uint8Array(32).fill(3));
const ctx = { signer: keys.signer, keys, mqttUrl: 'mqtts://gateway.example:8883', mqttCertPem: 'PEM' };
const ledgers: SqliteLedger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

async function ledger(): Promise<SqliteLedger> {
  const l = new SqliteLedger({ file: ':memory:' });
  ledgers.push(l);
  await l.addPartner({ id: 'P-CINE', name: 'Cinéma', type: 'cinema', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
  return l;
}

describe('enrolment codes', () => {
  it('are read as a technician types them: case, spaces and dashes ignored, O I L read as 0 1 1', () => {
    expect(parseEnrolmentCode('k7m2-9qxf-3rtb-hw4d')).toEqual({ id: 'K7M2', secret: '9QXF3RTBHW4D' });
    expect(parseEnrolmentCode(' K7M2 9QXF 3RTB HW4D ')).toEqual({ id: 'K7M2', secret: '9QXF3RTBHW4D' });
    expect(parseEnrolmentCode('OILK-0000-0000-0000')).toEqual({ id: '011K', secret: '000000000000' });
    for (const bad of ['', 'K7M2-9QXF-3RTB', 'K7M2-9QXF-3RTB-HW4D-X', 'U7M2-9QXF-3RTB-HW4D', 'K7M2-9QXF-3RTB-HW4!']) expect(parseEnrolmentCode(bad), bad).toBeUndefined();
  });

  it('enrol once, before their expiry, within their tries; the answer is signed and names what the terminal runs with', async () => {
    const l = await ledger();
    const key = new Uint8Array(32).fill(7);
    const a = await makeEnrolmentCode(l, { partnerId: 'P-CINE', terminalId: 'T-CINE-01', ttlS: 60, maxTries: 2, actor: 'operator:test' }, NOW);
    expect(await codeOf(async () => await redeemEnrolmentCode(l, a.code, key, NOW + 60_000, ctx, '127.0.0.1'))).toBe('ENROLMENT_CODE_EXPIRED');
    const e = await redeemEnrolmentCode(l, a.code.toLowerCase(), key, NOW + 59_999, ctx, '127.0.0.1');
    expect(e).toMatchObject({ terminalId: 'T-CINE-01', partnerId: 'P-CINE', benefits: ['CINEMA'], mqtt: { url: ctx.mqttUrl, certPem: 'PEM' }, replaced: false });
    expect(e.signed.startsWith('S1.')).toBe(true);
    // The device trusts only what is signed, under the code it typed, for its own key.
    const opened = openEnrolmentAnswer(e, a.code, key, defaultVerifier());
    expect(opened.fields).toMatchObject({ terminalId: 'T-CINE-01', partnerName: 'Cinéma', benefits: ['CINEMA'], replaced: false });
    expect(opened.keys).toEqual({ signPublicKey: keys.signPublicKey, boxPublicKey: keys.boxPublicKey, issuerPublicKey: keys.issuerPublicKey, mqttCertPem: 'PEM' });
    expect(openEnrolmentAnswer(e, a.code, key, defaultVerifier(), keys.signPublicKey).fields.terminalId).toBe('T-CINE-01');
    const other = (await makeEnrolmentCode(l, { partnerId: 'P-CINE', terminalId: 'T-CINE-09', actor: 'operator:test' }, NOW)).code;
    const tampered = e.signed.replace('Cinéma', 'Cinémb');
    for (const [what, f] of [
      ['another code', () => openEnrolmentAnswer(e, other, key, defaultVerifier())],
      ['another pinned key', () => openEnrolmentAnswer(e, a.code, key, defaultVerifier(), new Uint8Array(32).fill(9))],
      ['another device', () => openEnrolmentAnswer(e, a.code, new Uint8Array(32).fill(8), defaultVerifier())],
      ['fields changed, MAC made again by whoever knows the code', async () => openEnrolmentAnswer({ signed: tampered, codeMac: enrolmentAnswerMac((await l.enrolmentCode(a.id))!.secretHash, tampered) }, a.code, key, defaultVerifier())],
      ['no MAC', () => openEnrolmentAnswer({ signed: e.signed, codeMac: '' }, a.code, key, defaultVerifier())],
    ] as const) expect(await codeOf(f), what).toBe('ENROLMENT_ANSWER_INVALID');
    expect(await codeOf(async () => await redeemEnrolmentCode(l, a.code, key, NOW, ctx, '127.0.0.1'))).toBe('ENROLMENT_CODE_USED');
    const b = await makeEnrolmentCode(l, { partnerId: 'P-CINE', terminalId: 'T-CINE-02', maxTries: 2, actor: 'operator:test' }, NOW);
    const wrong = b.code.slice(0, 5) + (b.code[5] === 'A' ? 'B' : 'A') + b.code.slice(6);
    expect(await codeOf(async () => await redeemEnrolmentCode(l, wrong, key, NOW, ctx, '127.0.0.1'))).toBe('ENROLMENT_CODE_INVALID');
    expect(await codeOf(async () => await redeemEnrolmentCode(l, wrong, key, NOW, ctx, '127.0.0.1'))).toBe('ENROLMENT_CODE_INVALID');
    expect(await codeOf(async () => await redeemEnrolmentCode(l, b.code, key, NOW, ctx, '127.0.0.1'))).toBe('ENROLMENT_CODE_EXHAUSTED');
    expect((await l.auditLog({ subject: 'T-CINE-02', limit: 10 })).map((x) => x.action)).toEqual(['enrolment-code.failed', 'enrolment-code.failed', 'enrolment-code.created']);
  });

  it('a code for a terminal id of another partner is refused at once', async () => {
    const l = await ledger();
    await l.addPartner({ id: 'P-OTHER', name: 'Autre', type: 'cinema', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
    await l.addTerminal({ id: 'T-CINE-01', partnerId: 'P-OTHER', publicKey: new Uint8Array(32) });
    expect(await codeOf(async () => await makeEnrolmentCode(l, { partnerId: 'P-CINE', terminalId: 'T-CINE-01', actor: 'operator:test' }, NOW))).toBe('DATA_INVALID');
  });
});
