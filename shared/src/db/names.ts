import { createHash } from 'node:crypto';

/** PostgreSQL truncates identifiers beyond this many bytes, silently. */
export const MAX_IDENTIFIER_LENGTH = 63;

/**
 * Every database and role the platform creates, under the installation's
 * prefix so that two installations (or two test runs) can share a cluster.
 */
export function platformNames(prefix: string) {
  return {
    platformDatabase: `${prefix}deeplens_platform`,
    identityDatabase: `${prefix}deeplens_identity`,
    templateDatabase: `${prefix}tenant_metadata_template`,
    platformRole: `${prefix}platform_service`,
    /** A NOLOGIN group: holds the table grants the tenant databases' RLS policies are written for. */
    tenantRole: `${prefix}tenant_service`,
    /** The one role that may connect to the identity database, through its functions. */
    identityRole: `${prefix}identity_service`,
    /** Tenant database names start with this; used to find the fleet and clean up. */
    tenantDatabasePrefix: `${prefix}tenant_`,
    /** Spare tenant databases (verified clones waiting to be claimed) start with this. */
    spareDatabasePrefix: `${prefix}spare_`,
  };
}

export type PlatformNames = ReturnType<typeof platformNames>;

/**
 * `tenant_<name, '-' → '_'>_metadata`, as the contract says. A long name with a
 * prefix can pass 63 bytes; PostgreSQL would then cut it and two tenants
 * could collide, so the middle is shortened and a hash of the full name keeps
 * it unique.
 */
export function tenantDatabaseName(prefix: string, tenantName: string, type = 'metadata'): string {
  const slug = tenantName.replace(/-/g, '_');
  const full = `${prefix}tenant_${slug}_${type}`;
  if (full.length <= MAX_IDENTIFIER_LENGTH) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  const room = MAX_IDENTIFIER_LENGTH - `${prefix}tenant_`.length - `_${hash}_${type}`.length;
  return `${prefix}tenant_${slug.slice(0, room)}_${hash}_${type}`;
}

/**
 * The login role of one tenant's databases: `<prefix>tenant_<tenant id, 32 hex>`,
 * at most 20 + 7 + 32 = 59 bytes, so PostgreSQL never cuts it. Derived from
 * the id, not the name: a name can be taken again after a deletion, an id cannot.
 */
export function tenantLoginRoleName(prefix: string, tenantId: string): string {
  const hex = tenantId.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`"${tenantId}" is not a tenant id`);
  return `${prefix}tenant_${hex}`;
}
