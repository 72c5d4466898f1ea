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

diesel::joinable!(jobs -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(tenants, jobs, job_state_transitions);
