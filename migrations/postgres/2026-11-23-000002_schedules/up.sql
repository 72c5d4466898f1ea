-- Schedules (seed 002's cron definitions, which it calls jobs), their constraints, actions and
-- runs, violations, and the scheduler's statistics. Tenant-owned tables lead with the tenant id
-- and go with their tenant. A run's key is (tenant, schedule, due time): the database, not a
-- leader, makes each due time fire once. Durations are whole seconds (the seed's text, parsed).
-- The seed's ON DELETE SET NULL from a schedule to its constraint cannot be written on a key
-- that includes the tenant (it would null the tenant too): deleting a constraint clears it from
-- its schedules in the same transaction, and this key refuses anything left dangling.

CREATE TABLE constraints (
    tenant_id                VARCHAR(36) NOT NULL,
    constraint_id            VARCHAR(36) NOT NULL,
    max_concurrent_runs      INTEGER,
    catch_up                 BOOLEAN,
    catch_up_window_seconds  BIGINT,
    max_catch_up_runs        INTEGER,
    max_expected_run_seconds BIGINT,
    max_allowed_run_seconds  BIGINT,
    pre_run_hook             TEXT,
    post_run_hook            TEXT,
    require_previous_success TEXT,
    version                  BIGINT NOT NULL,
    created_at               TIMESTAMP NOT NULL,
    updated_at               TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, constraint_id),
    CONSTRAINT constraints_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT constraints_limits CHECK ((max_concurrent_runs IS NULL OR max_concurrent_runs >= 1)
        AND (max_catch_up_runs IS NULL OR max_catch_up_runs >= 1)
        AND (catch_up_window_seconds IS NULL OR catch_up_window_seconds > 0)
        AND (max_expected_run_seconds IS NULL OR max_expected_run_seconds > 0)
        AND (max_allowed_run_seconds IS NULL OR max_allowed_run_seconds > 0))
);

CREATE TABLE schedules (
    tenant_id         VARCHAR(36)  NOT NULL,
    schedule_id       VARCHAR(36)  NOT NULL,
    name              VARCHAR(255) NOT NULL,
    cron              VARCHAR(255) NOT NULL,
    time_zone         VARCHAR(64)  NOT NULL,
    job_template      TEXT,
    pod_spec          TEXT,
    constraint_id     VARCHAR(36),
    paused            BOOLEAN      NOT NULL,
    pause_note        VARCHAR(1024),
    last_scheduled_at TIMESTAMP,
    next_due_at       TIMESTAMP,
    version           BIGINT       NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id),
    CONSTRAINT schedules_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT schedules_constraint FOREIGN KEY (tenant_id, constraint_id)
        REFERENCES constraints (tenant_id, constraint_id)
);
-- What is due, across tenants: the schedulers' one query.
CREATE INDEX schedules_due ON schedules (paused, next_due_at);
CREATE INDEX schedules_by_constraint ON schedules (tenant_id, constraint_id);

CREATE TABLE actions (
    tenant_id   VARCHAR(36)  NOT NULL,
    action_id   VARCHAR(36)  NOT NULL,
    name        VARCHAR(255) NOT NULL,
    action_type VARCHAR(32)  NOT NULL,
    config      TEXT,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, action_id),
    CONSTRAINT actions_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT actions_type CHECK (action_type IN ('retry', 'kickOffJob', 'webhook', 'killAllInstances', 'killLatestInstance', 'skipNextInstance'))
);

-- The seed's job_actions; `trigger` is a reserved word, so the column is trigger_on.
CREATE TABLE schedule_actions (
    tenant_id     VARCHAR(36) NOT NULL,
    schedule_id   VARCHAR(36) NOT NULL,
    action_id     VARCHAR(36) NOT NULL,
    trigger_on    VARCHAR(16) NOT NULL,
    constraint_id VARCHAR(36),
    PRIMARY KEY (tenant_id, schedule_id, action_id),
    CONSTRAINT schedule_actions_schedule FOREIGN KEY (tenant_id, schedule_id)
        REFERENCES schedules (tenant_id, schedule_id) ON DELETE CASCADE,
    CONSTRAINT schedule_actions_action FOREIGN KEY (tenant_id, action_id)
        REFERENCES actions (tenant_id, action_id) ON DELETE CASCADE,
    CONSTRAINT schedule_actions_constraint FOREIGN KEY (tenant_id, constraint_id)
        REFERENCES constraints (tenant_id, constraint_id) ON DELETE CASCADE,
    CONSTRAINT schedule_actions_trigger CHECK (trigger_on IN ('on_failure', 'on_success', 'on_timeout', 'on_violation')),
    CONSTRAINT schedule_actions_constraint_only_on_violation CHECK (constraint_id IS NULL OR trigger_on = 'on_violation')
);
CREATE INDEX schedule_actions_by_action ON schedule_actions (tenant_id, action_id);
CREATE INDEX schedule_actions_by_constraint ON schedule_actions (tenant_id, constraint_id);

-- The seed's job_runs. scheduled_at is the nominal due time in UTC, to the second. fire_token
-- names the call that inserted the row: a scheduler learns whether it won a due time by reading
-- it back, not from an affected-row count (MySQL counts a duplicate ignored as a row).
CREATE TABLE schedule_runs (
    tenant_id    VARCHAR(36) NOT NULL,
    schedule_id  VARCHAR(36) NOT NULL,
    scheduled_at TIMESTAMP NOT NULL,
    run_id       VARCHAR(36) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    started_at   TIMESTAMP,
    completed_at TIMESTAMP,
    success      BOOLEAN,
    error        TEXT,
    skip_reason  VARCHAR(16),
    job_id       VARCHAR(36),
    overdue_at   TIMESTAMP,
    fire_token   VARCHAR(36) NOT NULL,
    version      BIGINT      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id, scheduled_at),
    CONSTRAINT schedule_runs_run_id UNIQUE (run_id),
    CONSTRAINT schedule_runs_schedule FOREIGN KEY (tenant_id, schedule_id)
        REFERENCES schedules (tenant_id, schedule_id) ON DELETE CASCADE,
    CONSTRAINT schedule_runs_status CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'SKIPPED')),
    CONSTRAINT schedule_runs_skip_reason CHECK (skip_reason IS NULL OR skip_reason IN ('overlap', 'missed', 'action', 'paused', 'constraint'))
);
-- Live runs by start time: the overdue sweep, and counting a schedule's RUNNING runs.
CREATE INDEX schedule_runs_live ON schedule_runs (status, started_at);
-- A schedule's runs in one status: counting its RUNNING runs at every start, its unfinished
-- runs for the kill actions.
CREATE INDEX schedule_runs_by_schedule_status ON schedule_runs (tenant_id, schedule_id, status);
-- Old runs, for pruning.
CREATE INDEX schedule_runs_by_time ON schedule_runs (scheduled_at);

-- One violation of a kind per run: the database makes the overdue sweep record it once.
CREATE TABLE constraint_violations (
    tenant_id      VARCHAR(36) NOT NULL,
    violation_id   VARCHAR(36) NOT NULL,
    run_id         VARCHAR(36) NOT NULL,
    constraint_id  VARCHAR(36) NOT NULL,
    kind           VARCHAR(32) NOT NULL,
    violation_time TIMESTAMP NOT NULL,
    action_taken   VARCHAR(255),
    details        TEXT        NOT NULL,
    PRIMARY KEY (tenant_id, violation_id),
    CONSTRAINT constraint_violations_once UNIQUE (run_id, kind),
    CONSTRAINT constraint_violations_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    CONSTRAINT constraint_violations_run FOREIGN KEY (run_id) REFERENCES schedule_runs (run_id) ON DELETE CASCADE,
    CONSTRAINT constraint_violations_constraint FOREIGN KEY (tenant_id, constraint_id)
        REFERENCES constraints (tenant_id, constraint_id) ON DELETE CASCADE,
    CONSTRAINT constraint_violations_kind CHECK (kind IN ('max_concurrent_runs', 'require_previous_success', 'max_expected_run_time', 'max_allowed_run_time'))
);
CREATE INDEX constraint_violations_by_constraint ON constraint_violations (tenant_id, constraint_id, violation_time);

-- Actions fired for runs: those a call returned (taken at once), and those fired where no caller
-- could take them (a run following its job), queued until a scheduler takes them.
CREATE TABLE run_actions (
    tenant_id     VARCHAR(36) NOT NULL,
    run_action_id VARCHAR(36) NOT NULL,
    run_id        VARCHAR(36) NOT NULL,
    schedule_id   VARCHAR(36) NOT NULL,
    action_id     VARCHAR(36) NOT NULL,
    trigger_on    VARCHAR(16) NOT NULL,
    fired_at      TIMESTAMP NOT NULL,
    taken_at      TIMESTAMP,
    PRIMARY KEY (tenant_id, run_action_id),
    CONSTRAINT run_actions_run FOREIGN KEY (run_id) REFERENCES schedule_runs (run_id) ON DELETE CASCADE,
    CONSTRAINT run_actions_action FOREIGN KEY (tenant_id, action_id)
        REFERENCES actions (tenant_id, action_id) ON DELETE CASCADE,
    CONSTRAINT run_actions_trigger CHECK (trigger_on IN ('on_failure', 'on_success', 'on_timeout', 'on_violation'))
);
-- The queue: untaken actions, oldest first.
CREATE INDEX run_actions_queue ON run_actions (taken_at, fired_at);
CREATE INDEX run_actions_by_run ON run_actions (run_id);

-- A scheduler's statistics: not tenant-owned, a scheduler serves every tenant.
CREATE TABLE scheduler_stats (
    stats_period_id          VARCHAR(36) NOT NULL,
    start_time               TIMESTAMP NOT NULL,
    end_time                 TIMESTAMP NOT NULL,
    iterations               BIGINT NOT NULL DEFAULT 0,
    run_jobs                 BIGINT NOT NULL DEFAULT 0,
    late_jobs                BIGINT NOT NULL DEFAULT 0,
    time_passed_run_time     BIGINT NOT NULL DEFAULT 0,
    missed_jobs              BIGINT NOT NULL DEFAULT 0,
    time_passed_grace_period BIGINT NOT NULL DEFAULT 0,
    jobs_cancelled           BIGINT NOT NULL DEFAULT 0,
    min_inbox_length         BIGINT,
    max_inbox_length         BIGINT,
    avg_inbox_length         DOUBLE PRECISION,
    empty_inbox_time         BIGINT,
    avg_time_in_inbox        DOUBLE PRECISION,
    min_time_in_inbox        BIGINT,
    max_time_in_inbox        BIGINT,
    PRIMARY KEY (stats_period_id),
    CONSTRAINT scheduler_stats_period CHECK (end_time >= start_time)
);
CREATE INDEX scheduler_stats_by_time ON scheduler_stats (start_time, end_time);

CREATE TABLE orchestrator_stats (
    run_id              VARCHAR(36) NOT NULL,
    stats_period_id     VARCHAR(36) NOT NULL,
    runtime             BIGINT NOT NULL,
    constraints_checked BIGINT NOT NULL DEFAULT 0,
    actions_taken       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id),
    CONSTRAINT orchestrator_stats_period FOREIGN KEY (stats_period_id)
        REFERENCES scheduler_stats (stats_period_id) ON DELETE CASCADE
);
CREATE INDEX orchestrator_stats_by_period ON orchestrator_stats (stats_period_id);

-- A job enqueued by a run names it, so the run follows the job in the job's own transactions.
ALTER TABLE jobs ADD COLUMN run_id VARCHAR(36);
