-- The hot path's indexes hold only the rows they serve: a claim reads PENDING jobs that are not
-- deleted, the reaper leased ones. A job's update adds no entry to an index whose predicate it
-- leaves, so completing a job touches two indexes fewer, and both stay small however many
-- finished jobs the table holds. Claims and the reaper name the statuses as literals, so that
-- even a generic plan of their prepared statements can use these indexes.
DROP INDEX jobs_claimable;
CREATE INDEX jobs_claimable ON jobs (queue, priority DESC, not_before, tenant_id, job_id)
    WHERE status = 'PENDING' AND deleted_at IS NULL;
DROP INDEX jobs_leases;
CREATE INDEX jobs_leases ON jobs (lease_deadline, tenant_id, job_id) WHERE status IN ('ASSIGNED', 'RUNNING');
