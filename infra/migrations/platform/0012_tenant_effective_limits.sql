-- The one statement of the limit rule: a tenant's own limit where it has one
-- (an override), else its plan's. Every reader of a tenant's limits (the
-- tenant view, the quota state, threshold events, the gauges) joins this view
-- instead of writing the coalesce again. Columns are named as the contract's
-- `limits` object and the plans table name them. security_invoker: a reader
-- needs its own SELECT on tenants and plans, as if it had joined them itself.
CREATE VIEW tenant_effective_limits WITH (security_invoker = true) AS
SELECT t.id AS tenant_id,
       coalesce(t.storage_bytes_limit, p.storage_bytes) AS storage_bytes,
       coalesce(t.api_calls_limit, p.api_calls_per_month) AS api_calls_per_month,
       coalesce(t.max_collections_limit, p.max_collections) AS max_collections
  FROM tenants t
  JOIN plans p ON p.id = t.plan;

DO $$
BEGIN
  EXECUTE format('GRANT SELECT ON tenant_effective_limits TO %I', current_setting('deeplens.platform_role'));
END $$;
