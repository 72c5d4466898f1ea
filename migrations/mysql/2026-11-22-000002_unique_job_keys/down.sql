ALTER TABLE jobs DROP INDEX jobs_unique_key, DROP COLUMN unique_key_live, DROP COLUMN unique_key;
