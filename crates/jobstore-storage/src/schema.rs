//! The tables, in the types all three backends share (hand-written; see migrations/).

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    tenants (tenant_id) {
        tenant_id -> Text,
        name -> Text,
        user_email -> Nullable<Text>,
        oauth_provider -> Nullable<Text>,
        oauth_user_id -> Nullable<Text>,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
        deleted_at -> Nullable<UtcDateTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    jobs (tenant_id, job_id) {
        tenant_id -> Text,
        job_id -> Text,
        status -> Text,
        image_uri -> Nullable<Text>,
        commands -> Text,
        spec -> Nullable<Text>,
        input_bucket -> Nullable<Text>,
        input_key -> Nullable<Text>,
        output_bucket -> Nullable<Text>,
        output_key -> Nullable<Text>,
        output_prefix -> Text,
        attempt -> Integer,
        retry_count -> Integer,
        max_retries -> Integer,
        retry_policy -> Nullable<Text>,
        queue -> Text,
        priority -> Integer,
        not_before -> UtcDateTime,
        unique_key -> Nullable<Text>,
        assigned_agent -> Nullable<Text>,
        lease_id -> Nullable<Text>,
        lease_deadline -> Nullable<UtcDateTime>,
        batch_job_name -> Nullable<Text>,
        error_message -> Nullable<Text>,
        version -> BigInt,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
        scheduled_at -> Nullable<UtcDateTime>,
        started_at -> Nullable<UtcDateTime>,
        completed_at -> Nullable<UtcDateTime>,
        deleted_at -> Nullable<UtcDateTime>,
        run_id -> Nullable<Text>,
        study_id -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    job_state_transitions (tenant_id, job_id, transition_id) {
        tenant_id -> Text,
        job_id -> Text,
        transition_id -> Text,
        seq -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        transitioned_at -> UtcDateTime,
        reason -> Nullable<Text>,
        actor -> Nullable<Text>,
        attempt -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    constraints (tenant_id, constraint_id) {
        tenant_id -> Text,
        constraint_id -> Text,
        max_concurrent_runs -> Nullable<Integer>,
        catch_up -> Nullable<Bool>,
        catch_up_window_seconds -> Nullable<BigInt>,
        max_catch_up_runs -> Nullable<Integer>,
        max_expected_run_seconds -> Nullable<BigInt>,
        max_allowed_run_seconds -> Nullable<BigInt>,
        pre_run_hook -> Nullable<Text>,
        post_run_hook -> Nullable<Text>,
        require_previous_success -> Nullable<Text>,
        version -> BigInt,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    schedules (tenant_id, schedule_id) {
        tenant_id -> Text,
        schedule_id -> Text,
        name -> Text,
        cron -> Text,
        time_zone -> Text,
        job_template -> Nullable<Text>,
        pod_spec -> Nullable<Text>,
        constraint_id -> Nullable<Text>,
        paused -> Bool,
        pause_note -> Nullable<Text>,
        last_scheduled_at -> Nullable<UtcDateTime>,
        next_due_at -> Nullable<UtcDateTime>,
        version -> BigInt,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    actions (tenant_id, action_id) {
        tenant_id -> Text,
        action_id -> Text,
        name -> Text,
        action_type -> Text,
        config -> Nullable<Text>,
        created_at -> UtcDateTime,
    }
}

diesel::table! {
    schedule_actions (tenant_id, schedule_id, action_id) {
        tenant_id -> Text,
        schedule_id -> Text,
        action_id -> Text,
        trigger_on -> Text,
        constraint_id -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    schedule_runs (tenant_id, schedule_id, scheduled_at) {
        tenant_id -> Text,
        schedule_id -> Text,
        scheduled_at -> UtcDateTime,
        run_id -> Text,
        status -> Text,
        started_at -> Nullable<UtcDateTime>,
        completed_at -> Nullable<UtcDateTime>,
        success -> Nullable<Bool>,
        error -> Nullable<Text>,
        skip_reason -> Nullable<Text>,
        job_id -> Nullable<Text>,
        overdue_at -> Nullable<UtcDateTime>,
        fire_token -> Text,
        version -> BigInt,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    constraint_violations (tenant_id, violation_id) {
        tenant_id -> Text,
        violation_id -> Text,
        run_id -> Text,
        constraint_id -> Text,
        kind -> Text,
        violation_time -> UtcDateTime,
        action_taken -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    run_actions (tenant_id, run_action_id) {
        tenant_id -> Text,
        run_action_id -> Text,
        run_id -> Text,
        schedule_id -> Text,
        action_id -> Text,
        trigger_on -> Text,
        fired_at -> UtcDateTime,
        taken_at -> Nullable<UtcDateTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    scheduler_stats (stats_period_id) {
        stats_period_id -> Text,
        start_time -> UtcDateTime,
        end_time -> UtcDateTime,
        iterations -> BigInt,
        run_jobs -> BigInt,
        late_jobs -> BigInt,
        time_passed_run_time -> BigInt,
        missed_jobs -> BigInt,
        time_passed_grace_period -> BigInt,
        jobs_cancelled -> BigInt,
        min_inbox_length -> Nullable<BigInt>,
        max_inbox_length -> Nullable<BigInt>,
        avg_inbox_length -> Nullable<Double>,
        empty_inbox_time -> Nullable<BigInt>,
        avg_time_in_inbox -> Nullable<Double>,
        min_time_in_inbox -> Nullable<BigInt>,
        max_time_in_inbox -> Nullable<BigInt>,
    }
}

diesel::table! {
    orchestrator_stats (run_id) {
        run_id -> Text,
        stats_period_id -> Text,
        runtime -> BigInt,
        constraints_checked -> BigInt,
        actions_taken -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    users (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        email -> Text,
        email_key -> Text,
        name -> Text,
        role -> Text,
        version -> BigInt,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
        deleted_at -> Nullable<UtcDateTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    studies (tenant_id, study_id) {
        tenant_id -> Text,
        study_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        manifest -> Nullable<Text>,
        created_by -> Nullable<Text>,
        state -> Text,
        version -> BigInt,
        created_at -> UtcDateTime,
        updated_at -> UtcDateTime,
        deleted_at -> Nullable<UtcDateTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    study_transitions (tenant_id, study_id, seq) {
        tenant_id -> Text,
        study_id -> Text,
        seq -> BigInt,
        from_state -> Nullable<Text>,
        to_state -> Text,
        at -> UtcDateTime,
        actor -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    results (tenant_id, result_id) {
        tenant_id -> Text,
        result_id -> Text,
        study_id -> Text,
        job_id -> Text,
        surface -> Text,
        query -> Text,
        success -> Bool,
        response_text -> Nullable<Text>,
        data -> Nullable<Text>,
        latency_ms -> Nullable<BigInt>,
        tokens_in -> Nullable<BigInt>,
        tokens_out -> Nullable<BigInt>,
        created_at -> UtcDateTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    evidence (tenant_id, evidence_id) {
        tenant_id -> Text,
        evidence_id -> Text,
        result_id -> Text,
        kind -> Text,
        uri -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        content_type -> Text,
        captured_at -> UtcDateTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    checkpoints (tenant_id, study_id, sequence) {
        tenant_id -> Text,
        study_id -> Text,
        sequence -> BigInt,
        state -> Text,
        created_at -> UtcDateTime,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    audit_logs (tenant_id, audit_id) {
        tenant_id -> Text,
        audit_id -> Text,
        actor -> Text,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        details -> Text,
        at -> UtcDateTime,
        seq -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::stamp::UtcDateTime;

    cost_records (tenant_id, cost_record_id) {
        tenant_id -> Text,
        cost_record_id -> Text,
        study_id -> Nullable<Text>,
        job_id -> Nullable<Text>,
        category -> Text,
        provider -> Text,
        quantity -> Text,
        unit -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        recorded_at -> UtcDateTime,
    }
}

diesel::joinable!(jobs -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    jobs,
    job_state_transitions,
    constraints,
    schedules,
    actions,
    schedule_actions,
    schedule_runs,
    constraint_violations,
    run_actions,
    scheduler_stats,
    orchestrator_stats,
    users,
    studies,
    study_transitions,
    results,
    evidence,
    checkpoints,
    audit_logs,
    cost_records,
);
