import { describe, expect, it } from 'vitest';
import { parseKeyring } from './keyring.js';
import { keyedDigest, seal, sealedKeyId, unseal } from './sealed.js';

describe('sealed secrets', () => {
  const keyring = parseKeyring('k2:second-key-of-sixteen+,k1:first-key-of-sixteen++');
  const context = ['tenant-a', 'storage', 'aws_s3'];

  it('round-trips under the current key, with a fresh nonce each time', () => {
    const a = seal(keyring, '{"secret_key":"s3cr3t"}', context);
    const b = seal(keyring, '{"secret_key":"s3cr3t"}', context);
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cr3t');
    expect(sealedKeyId(a)).toBe('k2');
    expect(unseal(keyring, a, context)).toBe('{"secret_key":"s3cr3t"}');
  });

  it('refuses another context (another tenant), a changed text and an unknown key, naming neither key nor secret', () => {
    const sealed = seal(keyring, 'pw', context);
    expect(() => unseal(keyring, sealed, ['tenant-b', 'storage', 'aws_s3'])).toThrow(/another tenant or purpose/);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('xx').toString('base64url');
    expect(() => unseal(keyring, parts.join('.'), context)).toThrow(/does not open/);
    expect(() => unseal(parseKeyring('k9:ninth-key-of-sixteen'), sealed, context)).toThrow(
      /"k2", which is not in the keyring/,
    );
  });

  it('opens values sealed under an older key of the keyring', () => {
    const old = parseKeyring('k1:first-key-of-sixteen++');
    expect(unseal(keyring, seal(old, 'x', context), context)).toBe('x');
  });

  it('keyed digests depend on the key', () => {
    expect(keyedDigest(keyring, 'body')).toBe(keyedDigest(keyring, 'body'));
    expect(keyedDigest(keyring, 'body')).not.toBe(keyedDigest(keyring, 'body', 'k1'));
    expect(keyedDigest(keyring, 'body').startsWith('k2.')).toBe(true);
  });
});
