-- Tenants, their jobs and the jobs' audit trail. Keys lead with the tenant id (the seeds'
-- interleaving), and deleting a tenant or a job cascades to what it owns.
-- Status CHECKs compare bytes: utf8mb4_bin ignores trailing spaces, and the database must
-- refuse 'PENDING ' as the others do.

CREATE TABLE tenants (
    tenant_id      VARCHAR(36)  NOT NULL,
    name           VARCHAR(255) NOT NULL,
    user_email     VARCHAR(255),
    oauth_provider VARCHAR(50),
    oauth_user_id  VARCHAR(255),
    created_at     DATETIME(6) NOT NULL,
    updated_at     DATETIME(6) NOT NULL,
    deleted_at     DATETIME(6),
    PRIMARY KEY (tenant_id),
    CONSTRAINT tenants_oauth_identity UNIQUE (oauth_provider, oauth_user_id),
    CONSTRAINT tenants_oauth_whole CHECK ((oauth_provider IS NULL AND oauth_user_id IS NULL)
        OR (oauth_provider IS NOT NULL AND oauth_user_id IS NOT NULL))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE jobs (
    tenant_id      VARCHAR(36)   NOT NULL,
    job_id         VARCHAR(36)   NOT NULL,
    status         VARCHAR(16)   NOT NULL,
    image_uri      VARCHAR(1024),
    commands       TEXT          NOT NULL,
    spec           TEXT,
    input_bucket   VARCHAR(1024),
    input_key      VARCHAR(1024),
    output_bucket  VARCHAR(1024),
    output_key     VARCHAR(1024),
    output_prefix  VARCHAR(64)   NOT NULL,
    attempt        INTEGER       NOT NULL,
    retry_count    INTEGER       NOT NULL DEFAULT 0,
    max_retries    INTEGER       NOT NULL DEFAULT 3,
    retry_policy   VARCHAR(64),
    queue          VARCHAR(64)   NOT NULL,
    priority       INTEGER       NOT NULL DEFAULT 0,
    not_before     DATETIME(6) NOT NULL,
    assigned_agent VARCHAR(255),
    lease_id       VARCHAR(36),
    lease_deadline DATETIME(6),
    batch_job_name VARCHAR(1024),
    error_message  TEXT,
    version        BIGINT        NOT NULL,
    created_at     DATETIME(6) NOT NULL,
    updated_at     DATETIME(6) NOT NULL,
    scheduled_at   DATETIME(6),
    started_at     DATETIME(6),
    completed_at   DATETIME(6),
    deleted_at     DATETIME(6),
    PRIMARY KEY (tenant_id, job_id),
    CONSTRAINT jobs_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT jobs_status CHECK (CAST(status AS BINARY) IN ('PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOST')),
    CONSTRAINT jobs_attempt CHECK (attempt >= 1),
    CONSTRAINT jobs_retries CHECK (retry_count >= 0 AND max_retries >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A tenant's jobs in creation order, optionally by status (keyset pagination).
CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at, job_id);
CREATE INDEX jobs_by_tenant_status ON jobs (tenant_id, status, created_at, job_id);
-- Claimable work: status and queue first, then the claim order, so finished jobs are never scanned.
CREATE INDEX jobs_claimable ON jobs (status, queue, priority DESC, not_before, tenant_id, job_id);
-- Expired leases, for the reaper.
CREATE INDEX jobs_leases ON jobs (status, lease_deadline);

CREATE TABLE job_state_transitions (
    tenant_id       VARCHAR(36)  NOT NULL,
    job_id          VARCHAR(36)  NOT NULL,
    transition_id   VARCHAR(36)  NOT NULL,
    seq             BIGINT       NOT NULL,
    from_status     VARCHAR(16),
    to_status       VARCHAR(16)  NOT NULL,
    transitioned_at DATETIME(6) NOT NULL,
    reason          TEXT,
    actor           VARCHAR(255),
    attempt         INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, job_id, transition_id),
    -- A job's transitions in order; two writers can never record the same step.
    CONSTRAINT job_state_transitions_seq UNIQUE (tenant_id, job_id, seq),
    CONSTRAINT job_state_transitions_job FOREIGN KEY (tenant_id, job_id)
        REFERENCES jobs (tenant_id, job_id) ON DELETE CASCADE,
    CONSTRAINT job_state_transitions_from CHECK (from_status IS NULL OR CAST(from_status AS BINARY) IN ('PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOST')),
    CONSTRAINT job_state_transitions_to CHECK (CAST(to_status AS BINARY) IN ('PENDING', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'LOST'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
