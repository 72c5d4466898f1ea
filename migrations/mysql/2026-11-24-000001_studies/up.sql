-- Enum CHECKs compare bytes, as in the first migration (utf8mb4_bin ignores trailing spaces).
-- Studies (seed 004): a tenant's users, studies made of jobs from a manifest with their trail,
-- results with evidence, checkpoints, the audit log and cost records. Keys lead with the tenant
-- and everything goes with its tenant; a study takes its jobs, results, checkpoints and costs
-- with it, a result its evidence. Money is an exact integer of minor units with its currency.

CREATE TABLE users (
    tenant_id  VARCHAR(36)  NOT NULL,
    user_id    VARCHAR(36)  NOT NULL,
    email      VARCHAR(255) NOT NULL,
    -- The e-mail lower-cased: unique per tenant, compared without case on every backend.
    email_key  VARCHAR(255) NOT NULL,
    name       VARCHAR(255) NOT NULL,
    role       VARCHAR(16)  NOT NULL,
    version    BIGINT       NOT NULL,
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    deleted_at DATETIME(6),
    PRIMARY KEY (tenant_id, user_id),
    CONSTRAINT users_email UNIQUE (tenant_id, email_key),
    CONSTRAINT users_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT users_role CHECK (CAST(role AS BINARY) IN ('owner', 'admin', 'member', 'viewer'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE studies (
    tenant_id   VARCHAR(36)  NOT NULL,
    study_id    VARCHAR(36)  NOT NULL,
    name        VARCHAR(255) NOT NULL,
    description TEXT,
    manifest    MEDIUMTEXT,
    created_by  VARCHAR(36),
    state       VARCHAR(16)  NOT NULL,
    version     BIGINT       NOT NULL,
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    deleted_at  DATETIME(6),
    PRIMARY KEY (tenant_id, study_id),
    CONSTRAINT studies_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT studies_state CHECK (CAST(state AS BINARY) IN ('DRAFT', 'QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX studies_by_tenant ON studies (tenant_id, created_at, study_id);

CREATE TABLE study_transitions (
    tenant_id  VARCHAR(36) NOT NULL,
    study_id   VARCHAR(36) NOT NULL,
    seq        BIGINT      NOT NULL,
    from_state VARCHAR(16),
    to_state   VARCHAR(16) NOT NULL,
    at         DATETIME(6) NOT NULL,
    actor      VARCHAR(255),
    reason     TEXT,
    PRIMARY KEY (tenant_id, study_id, seq),
    CONSTRAINT study_transitions_study FOREIGN KEY (tenant_id, study_id)
        REFERENCES studies (tenant_id, study_id) ON DELETE CASCADE,
    CONSTRAINT study_transitions_from CHECK (from_state IS NULL OR CAST(from_state AS BINARY) IN ('DRAFT', 'QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED')),
    CONSTRAINT study_transitions_to CHECK (CAST(to_state AS BINARY) IN ('DRAFT', 'QUEUED', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A study's jobs, and their counts by status (progress, and whether any is unfinished).
ALTER TABLE jobs ADD COLUMN study_id VARCHAR(36);
ALTER TABLE jobs ADD CONSTRAINT jobs_study FOREIGN KEY (tenant_id, study_id)
    REFERENCES studies (tenant_id, study_id) ON DELETE CASCADE;
CREATE INDEX jobs_by_study ON jobs (tenant_id, study_id, status);

CREATE TABLE results (
    tenant_id     VARCHAR(36)   NOT NULL,
    result_id     VARCHAR(36)   NOT NULL,
    study_id      VARCHAR(36)   NOT NULL,
    job_id        VARCHAR(36)   NOT NULL,
    surface       VARCHAR(1024) NOT NULL,
    query         TEXT          NOT NULL,
    success       BOOLEAN       NOT NULL,
    response_text TEXT,
    data          TEXT,
    latency_ms    BIGINT,
    tokens_in     BIGINT,
    tokens_out    BIGINT,
    created_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, result_id),
    CONSTRAINT results_study FOREIGN KEY (tenant_id, study_id)
        REFERENCES studies (tenant_id, study_id) ON DELETE CASCADE,
    CONSTRAINT results_job FOREIGN KEY (tenant_id, job_id)
        REFERENCES jobs (tenant_id, job_id) ON DELETE CASCADE,
    CONSTRAINT results_metrics CHECK ((latency_ms IS NULL OR latency_ms >= 0)
        AND (tokens_in IS NULL OR tokens_in >= 0) AND (tokens_out IS NULL OR tokens_out >= 0))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX results_by_study ON results (tenant_id, study_id, created_at, result_id);
-- InnoDB keys hold at most 3072 bytes: the surface is indexed by its first 255 characters.
CREATE INDEX results_by_surface ON results (tenant_id, study_id, surface(255), success);
-- A job has one result: the output of the attempt that completed it.
CREATE UNIQUE INDEX results_by_job ON results (tenant_id, job_id);

CREATE TABLE evidence (
    tenant_id    VARCHAR(36)   NOT NULL,
    evidence_id  VARCHAR(36)   NOT NULL,
    result_id    VARCHAR(36)   NOT NULL,
    kind         VARCHAR(16)   NOT NULL,
    uri          VARCHAR(2048) NOT NULL,
    sha256       VARCHAR(64)   NOT NULL,
    size_bytes   BIGINT        NOT NULL,
    content_type VARCHAR(255)  NOT NULL,
    captured_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, evidence_id),
    CONSTRAINT evidence_result FOREIGN KEY (tenant_id, result_id)
        REFERENCES results (tenant_id, result_id) ON DELETE CASCADE,
    CONSTRAINT evidence_kind CHECK (CAST(kind AS BINARY) IN ('screenshot', 'html', 'text', 'har', 'video', 'other')),
    CONSTRAINT evidence_size CHECK (size_bytes >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX evidence_by_result ON evidence (tenant_id, result_id);

CREATE TABLE checkpoints (
    tenant_id  VARCHAR(36) NOT NULL,
    study_id   VARCHAR(36) NOT NULL,
    sequence   BIGINT      NOT NULL,
    state      TEXT        NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, study_id, sequence),
    CONSTRAINT checkpoints_study FOREIGN KEY (tenant_id, study_id)
        REFERENCES studies (tenant_id, study_id) ON DELETE CASCADE,
    CONSTRAINT checkpoints_sequence CHECK (sequence >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only: no call updates or deletes an entry; they go with their tenant. `seq` is the
-- writing process's count of entries (no database sequence): entries of one instant list in
-- the order they were written.
CREATE TABLE audit_logs (
    tenant_id   VARCHAR(36)  NOT NULL,
    audit_id    VARCHAR(36)  NOT NULL,
    actor       VARCHAR(255) NOT NULL,
    action      VARCHAR(100) NOT NULL,
    entity_type VARCHAR(50)  NOT NULL,
    entity_id   VARCHAR(100) NOT NULL,
    details     TEXT         NOT NULL,
    at          DATETIME(6) NOT NULL,
    seq         BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, audit_id),
    CONSTRAINT audit_logs_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX audit_logs_by_time ON audit_logs (tenant_id, at, seq, audit_id);
CREATE INDEX audit_logs_by_entity ON audit_logs (tenant_id, entity_type, entity_id, at, seq, audit_id);

CREATE TABLE cost_records (
    tenant_id      VARCHAR(36) NOT NULL,
    cost_record_id VARCHAR(36) NOT NULL,
    study_id       VARCHAR(36),
    job_id         VARCHAR(36),
    category       VARCHAR(64) NOT NULL,
    provider       VARCHAR(64) NOT NULL,
    quantity       VARCHAR(32) NOT NULL,
    unit           VARCHAR(64) NOT NULL,
    amount_minor   BIGINT      NOT NULL,
    currency       VARCHAR(3)  NOT NULL,
    recorded_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, cost_record_id),
    CONSTRAINT cost_records_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT cost_records_study FOREIGN KEY (tenant_id, study_id)
        REFERENCES studies (tenant_id, study_id) ON DELETE CASCADE,
    CONSTRAINT cost_records_amount CHECK (amount_minor >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE INDEX cost_records_by_study ON cost_records (tenant_id, study_id, currency);
CREATE INDEX cost_records_by_time ON cost_records (tenant_id, recorded_at);
CREATE INDEX cost_records_by_category ON cost_records (tenant_id, category, currency);
