import { describe, expect, it } from 'vitest';
import { MAX_IDENTIFIER_LENGTH, tenantDatabaseName } from './names.js';

describe('tenant database names', () => {
  it('follow the contract: tenant_<name with - as _>_metadata, under the prefix', () => {
    expect(tenantDatabaseName('', 'acme-corp')).toBe('tenant_acme_corp_metadata');
    expect(tenantDatabaseName('staging_', 'acme-corp')).toBe('staging_tenant_acme_corp_metadata');
  });

  it('stay within 63 bytes and distinct when a long name and a prefix would overflow', () => {
    const a = `${'a'.repeat(45)}-one`;
    const b = `${'a'.repeat(45)}-two`;
    const nameA = tenantDatabaseName('t123456_', a);
    const nameB = tenantDatabaseName('t123456_', b);
    expect(nameA.length).toBeLessThanOrEqual(MAX_IDENTIFIER_LENGTH);
    expect(nameB.length).toBeLessThanOrEqual(MAX_IDENTIFIER_LENGTH);
    expect(nameA).not.toBe(nameB);
    expect(nameA).toMatch(/^t123456_tenant_a+_[0-9a-f]{8}_metadata$/);
    expect(tenantDatabaseName('t123456_', a)).toBe(nameA); // stable
  });
});
