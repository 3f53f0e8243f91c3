import type pg from 'pg';

/**
 * Why the tenant role could read past Row Level Security in a tenant
 * database, one line each: a table without RLS enabled and forced, a table
 * the role owns (owners bypass unforced policies and can drop them), or the
 * role itself bypassing RLS. Empty when the database is isolated. The
 * provisioner refuses a database with any; tests assert on the same list.
 */
export async function rowLevelSecurityProblems(client: Pick<pg.Client, 'query'>, tenantRole: string): Promise<string[]> {
  const { rows } = await client.query<{ table: string; problem: string }>(
    `SELECT n.nspname || '.' || c.relname AS table,
            CASE WHEN NOT c.relrowsecurity THEN 'row level security is not enabled'
                 WHEN NOT c.relforcerowsecurity THEN 'row level security is not forced'
                 ELSE 'owned by the tenant role' END AS problem
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND c.relname <> 'deeplens_schema_migrations'
        AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity OR pg_get_userbyid(c.relowner) = $1)`,
    [tenantRole],
  );
  const role = await client.query<{ bypass: boolean; superuser: boolean }>(
    'SELECT rolbypassrls AS bypass, rolsuper AS superuser FROM pg_roles WHERE rolname = $1',
    [tenantRole],
  );
  const problems = rows.map((row) => `${row.table}: ${row.problem}`);
  if (role.rows[0]?.bypass || role.rows[0]?.superuser) problems.push(`${tenantRole} can bypass row level security`);
  return problems;
}
