-- An optional key per job, unique among a tenant's unfinished jobs (PENDING, ASSIGNED, RUNNING).
-- The database is the judge: a partial unique index.
ALTER TABLE jobs ADD COLUMN unique_key VARCHAR(255);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (tenant_id, unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('PENDING', 'ASSIGNED', 'RUNNING');
