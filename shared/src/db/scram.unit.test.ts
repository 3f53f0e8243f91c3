import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { scramVerifier } from './scram.js';

// RFC 7677 §3: user "user", password "pencil", and the exchange that proves it.
const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const clientFinalBare = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
const serverSignature = '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

describe('scramVerifier', () => {
  it("verifies RFC 7677's exchange: the client's proof checks against StoredKey, ServerKey signs as the server did", () => {
    const verifier = scramVerifier('pencil', { salt, iterations: 4096 });
    const match = /^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$/.exec(verifier);
    expect(match?.[1]).toBe(salt.toString('base64'));
    const [storedKey, serverKey] = [Buffer.from(match![2]!, 'base64'), Buffer.from(match![3]!, 'base64')];
    const authMessage = `${clientFirstBare},${serverFirst},${clientFinalBare}`;
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const clientKey = Buffer.from(proof.map((byte, index) => byte ^ clientSignature[index]!));
    expect(createHash('sha256').update(clientKey).digest().equals(storedKey)).toBe(true);
    expect(createHmac('sha256', serverKey).update(authMessage).digest('base64')).toBe(serverSignature);
  });

  it('never contains the password, and salts every call differently', () => {
    const [a, b] = [scramVerifier('correct horse battery'), scramVerifier('correct horse battery')];
    expect(a).not.toContain('correct horse battery');
    expect(a).not.toBe(b);
  });
});
