DROP INDEX jobs_leases;
CREATE INDEX jobs_leases ON jobs (status, lease_deadline);
DROP INDEX jobs_claimable;
CREATE INDEX jobs_claimable ON jobs (status, queue, priority DESC, not_before, tenant_id, job_id);
