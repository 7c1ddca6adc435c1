import { describe, expect, it } from 'vitest';
import { settledCode } from '../../tests/helpers/errors.ts';
import { hashPassword, invitationHash, newInvitation, verifyPassword } from './passwords.ts';

describe('web passwords', () => {
  it('hashes with a salt and verifies only the same password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('correct horse battery', 'bcrypt$whatever')).toBe(false);
  });

  it('refuses short passwords and two different typings', async () => {
    expect(await settledCode(hashPassword('short'))).toBe('PASSWORD_WEAK');
    expect(await settledCode(hashPassword('long enough password', 'long enough passw0rd'))).toBe('PASSWORD_WEAK');
    expect(await settledCode(hashPassword('x'.repeat(201)))).toBe('PASSWORD_WEAK');
  });

  it('makes invitation secrets whose hash alone is kept', () => {
    const i = newInvitation();
    expect(i.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(invitationHash(i.secret)).toBe(i.hash);
    expect(newInvitation().secret).not.toBe(i.secret);
  });
});
