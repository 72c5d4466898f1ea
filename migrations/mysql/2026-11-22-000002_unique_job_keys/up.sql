-- An optional key per job, unique among a tenant's unfinished jobs (PENDING, ASSIGNED, RUNNING).
-- MySQL and MariaDB have no partial indexes: a generated column holds the key only while the job
-- is unfinished (NULL otherwise, and NULLs never collide), and a unique index on it is the judge.
ALTER TABLE jobs
    ADD COLUMN unique_key VARCHAR(255) NULL,
    ADD COLUMN unique_key_live VARCHAR(255)
        AS (CASE WHEN status IN ('PENDING', 'ASSIGNED', 'RUNNING') THEN unique_key END) STORED,
    ADD CONSTRAINT jobs_unique_key UNIQUE (tenant_id, unique_key_live);
