import type pg from 'pg';

/**
 * Why `role` could read past Row Level Security in a tenant database, one
 * line each: a table without RLS enabled and forced, a table owned by the
 * role or by a role it is a member of (owners bypass unforced policies and
 * can drop them), or the role, or a role it can become, bypassing RLS.
 * Empty when the database is isolated. Checked for a tenant's own login role
 * and for the tenant_service group it belongs to; the provisioner refuses a
 * database with any, and tests assert on the same list.
 */
export async function rowLevelSecurityProblems(client: Pick<pg.Client, 'query'>, role: string): Promise<string[]> {
  const { rows } = await client.query<{ table: string; problem: string }>(
    `SELECT n.nspname || '.' || c.relname AS table,
            CASE WHEN NOT c.relrowsecurity THEN 'row level security is not enabled'
                 WHEN NOT c.relforcerowsecurity THEN 'row level security is not forced'
                 ELSE 'owned by ' || pg_get_userbyid(c.relowner) END AS problem
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND c.relname <> 'deeplens_schema_migrations'
        AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity OR pg_has_role($1, c.relowner, 'MEMBER'))`,
    [role],
  );
  const bypass = await client.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles WHERE (rolbypassrls OR rolsuper) AND pg_has_role($1, oid, 'MEMBER')`,
    [role],
  );
  const problems = rows.map((row) => `${row.table}: ${row.problem}`);
  for (const found of bypass.rows)
    problems.push(`${role} can bypass row level security${found.rolname === role ? '' : ` as ${found.rolname}`}`);
  return problems;
}
