-- Usage metering: the idempotency ledger of usage events, monthly counters
-- per tenant (the truth the Redis mirror is repaired from), measured storage
-- and collections, the record of quota thresholds crossed (also the outbox of
-- the quota.* domain events), and the monthly partitions of api_usage_logs.

-- Every eventId counted, for at least the configured retention (>= 35 days).
-- A key is written in the same transaction as its log row and its count, so
-- a key exists exactly when its event has been counted.
CREATE TABLE usage_event_keys (
  event_id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_event_keys_received ON usage_event_keys (received_at);

-- One row per tenant per UTC month (period = first day of the month).
CREATE TABLE usage_counters (
  tenant_id uuid NOT NULL,
  period date NOT NULL CHECK (extract(day FROM period) = 1),
  api_calls bigint NOT NULL DEFAULT 0 CHECK (api_calls >= 0),
  -- Levels measured in the tenant's own database; NULL until measured in this period.
  storage_bytes bigint CHECK (storage_bytes >= 0),
  image_count bigint CHECK (image_count >= 0),
  collection_count integer CHECK (collection_count >= 0),
  resources_measured_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, period)
);
CREATE INDEX usage_counters_period ON usage_counters (period);

-- A threshold crossed once per tenant, period, limit and threshold. Rows are
-- inserted in the transaction that moved the counter; published_at is set
-- once the event is on the Redis stream (a sweep publishes what a crash left).
CREATE TABLE quota_events (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  period date NOT NULL,
  limit_name text NOT NULL CHECK (limit_name IN ('api_calls', 'storage_bytes', 'collections')),
  threshold integer NOT NULL CHECK (threshold IN (80, 100)),
  used bigint NOT NULL,
  limit_value bigint NOT NULL,
  emitted_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  UNIQUE (tenant_id, period, limit_name, threshold)
);
CREATE INDEX quota_events_unpublished ON quota_events (emitted_at) WHERE published_at IS NULL;

-- Monthly partitions of api_usage_logs, named api_usage_logs_yYYYYmMM.
-- Creates the current month and p_months_ahead after it, splits out of the
-- default partition any month within retention that has rows there, drops
-- partitions older than p_retention_months before the current month and
-- purges the default partition likewise. SECURITY DEFINER because only the
-- table's owner may change its partitions; the services call it as
-- platform_service. Serialised by an advisory lock, so replicas may all call it.
CREATE FUNCTION usage_maintain_log_partitions(p_months_ahead integer, p_retention_months integer)
  RETURNS TABLE (action text, partition_name text)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, public
AS $$
DECLARE
  current_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  oldest_kept date;
  horizon date;
  wanted date[];
  month date;
  part record;
  lo timestamptz;
  hi timestamptz;
  name text;
  purged bigint;
BEGIN
  IF p_months_ahead IS NULL OR p_months_ahead < 0 OR p_months_ahead > 24 THEN
    RAISE EXCEPTION 'p_months_ahead must be between 0 and 24';
  END IF;
  IF p_retention_months IS NULL OR p_retention_months < 1 THEN
    RAISE EXCEPTION 'p_retention_months must be at least 1';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('deeplens.usage.partitions'));

  oldest_kept := (current_month - make_interval(months => p_retention_months))::date;
  horizon := (current_month + make_interval(months => p_months_ahead + 1))::date;

  SELECT coalesce(array_agg(m ORDER BY m), '{}') INTO wanted FROM (
    SELECT gs::date AS m
      FROM generate_series(current_month::timestamp, (horizon - 1)::timestamp, interval '1 month') gs
    UNION
    SELECT DISTINCT date_trunc('month', d.occurred_at AT TIME ZONE 'UTC')::date
      FROM public.api_usage_logs_default d
     WHERE d.occurred_at >= (oldest_kept::timestamp AT TIME ZONE 'UTC')
       AND d.occurred_at < (horizon::timestamp AT TIME ZONE 'UTC')
  ) months
  WHERE to_regclass(format('public.api_usage_logs_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'))) IS NULL;

  IF cardinality(wanted) > 0 OR EXISTS (
    SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'public.api_usage_logs'::regclass
       AND c.relname ~ '^api_usage_logs_y\d{4}m\d{2}$'
       AND make_date(substring(c.relname FROM 'y(\d{4})')::int, substring(c.relname FROM 'm(\d{2})$')::int, 1) < oldest_kept
  ) THEN
    -- Parent first, then the default partition: the order an INSERT takes them, so no deadlock.
    LOCK TABLE public.api_usage_logs IN ACCESS EXCLUSIVE MODE;
    LOCK TABLE public.api_usage_logs_default IN ACCESS EXCLUSIVE MODE;
  END IF;

  FOREACH month IN ARRAY wanted LOOP
    name := format('api_usage_logs_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
    lo := month::timestamp AT TIME ZONE 'UTC';
    hi := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    IF EXISTS (SELECT 1 FROM public.api_usage_logs_default WHERE occurred_at >= lo AND occurred_at < hi) THEN
      -- A partition cannot be created over rows the default partition holds: move them into it first.
      EXECUTE format('CREATE TABLE public.%I (LIKE public.api_usage_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
      EXECUTE format(
        'WITH moved AS (DELETE FROM public.api_usage_logs_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)
         INSERT INTO public.%I SELECT * FROM moved', name) USING lo, hi;
      EXECUTE format('ALTER TABLE public.api_usage_logs ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
      action := 'split';
    ELSE
      EXECUTE format('CREATE TABLE public.%I PARTITION OF public.api_usage_logs FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
      action := 'created';
    END IF;
    partition_name := name;
    RETURN NEXT;
  END LOOP;

  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'public.api_usage_logs'::regclass
       AND c.relname ~ '^api_usage_logs_y\d{4}m\d{2}$'
       AND make_date(substring(c.relname FROM 'y(\d{4})')::int, substring(c.relname FROM 'm(\d{2})$')::int, 1) < oldest_kept
  LOOP
    EXECUTE format('DROP TABLE public.%I', part.relname);
    action := 'dropped';
    partition_name := part.relname;
    RETURN NEXT;
  END LOOP;

  DELETE FROM public.api_usage_logs_default WHERE occurred_at < (oldest_kept::timestamp AT TIME ZONE 'UTC');
  GET DIAGNOSTICS purged = ROW_COUNT;
  IF purged > 0 THEN
    action := 'purged';
    partition_name := format('api_usage_logs_default (%s rows)', purged);
    RETURN NEXT;
  END IF;
END $$;

REVOKE EXECUTE ON FUNCTION usage_maintain_log_partitions(integer, integer) FROM PUBLIC;

DO $$
DECLARE
  platform_role text := current_setting('deeplens.platform_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, DELETE ON usage_event_keys TO %I', platform_role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON usage_counters, quota_events TO %I', platform_role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION usage_maintain_log_partitions(integer, integer) TO %I', platform_role);
END $$;
