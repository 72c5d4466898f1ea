DROP TABLE job_state_transitions;
DROP TABLE jobs;
DROP TABLE tenants;
