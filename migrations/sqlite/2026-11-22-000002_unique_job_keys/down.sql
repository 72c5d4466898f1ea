DROP INDEX jobs_unique_key;
ALTER TABLE jobs DROP COLUMN unique_key;
