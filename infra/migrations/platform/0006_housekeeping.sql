-- The provisioner prunes the verification history past its retention, as it
-- does finished job records and expired idempotency keys.
DO $$
BEGIN
  EXECUTE format('GRANT DELETE ON storage_verifications TO %I', current_setting('deeplens.platform_role'));
END $$;
