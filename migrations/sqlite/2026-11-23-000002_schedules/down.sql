ALTER TABLE jobs DROP COLUMN run_id;
DROP TABLE orchestrator_stats;
DROP TABLE scheduler_stats;
DROP TABLE constraint_violations;
DROP TABLE schedule_runs;
DROP TABLE schedule_actions;
DROP TABLE actions;
DROP TABLE schedules;
DROP TABLE constraints;
