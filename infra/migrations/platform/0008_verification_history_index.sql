-- Every provisioner prunes storage_verifications by finished_at on its
-- reconcile interval (0006); the other two tables it prunes have an index on
-- their age column, and this one had none, so each pass read the whole history.
CREATE INDEX storage_verifications_finished ON storage_verifications (finished_at);
