import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { parseCanonicalJson } from './messages.ts';

const Shape = Type.Object({ amount: Type.Integer(), label: Type.String() }, { additionalProperties: false });
const parse = (bytes: Uint8Array) => parseCanonicalJson(Shape, bytes, 'record');
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'accepted';
};

describe('canonical JSON of signed records', () => {
  it('takes exactly what JSON.stringify writes, accents included', () => {
    const value = { amount: 1250, label: 'Librairie Cœur de Lyon — « 12,50 € »' };
    expect(parse(Buffer.from(JSON.stringify(value)))).toEqual(value);
    // A view into a larger buffer (how frames hand messages over) reads only its own bytes.
    const framed = Buffer.concat([Buffer.from('xx'), Buffer.from(JSON.stringify(value)), Buffer.from('yy')]);
    expect(parse(framed.subarray(2, framed.length - 2))).toEqual(value);
  });

  it('refuses every other spelling of the same value', () => {
    for (const text of [
      '{"amount":1250.0,"label":"a"}',
      '{"amount":1.25e3,"label":"a"}',
      '{"amount":1250,"label":"\\u0061"}',
      '{"amount":1,"amount":1250,"label":"a"}',
      '{ "amount":1250,"label":"a"}',
      '{"amount":1250,"label":"a"}\n',
    ]) {
      expect(code(() => parse(Buffer.from(text))), text).toBe('BAD_SCHEMA');
    }
  });

  it('leaves key order to the signer: it changes no value, and a repeated key is refused above', () => {
    expect(parse(Buffer.from('{"label":"a","amount":1250}'))).toEqual({ amount: 1250, label: 'a' });
  });

  it('refuses bytes that are not UTF-8, even where a decoder would repair them into a canonical text', () => {
    const canonical = Buffer.from('{"amount":1250,"label":"\uFFFD"}');
    expect(code(() => parse(canonical))).toBe('accepted');
    // 0xFF decodes to U+FFFD: the same text as above, from other bytes.
    const broken = Buffer.concat([Buffer.from('{"amount":1250,"label":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    expect(code(() => parse(broken))).toBe('BAD_SCHEMA');
  });

  it('malformed JSON is BAD_FRAME, a wrong shape BAD_SCHEMA', () => {
    expect(code(() => parse(Buffer.from('{"amount":')))).toBe('BAD_FRAME');
    expect(code(() => parse(Buffer.from('{"amount":"1250","label":"a"}')))).toBe('BAD_SCHEMA');
  });
});
