-- PostgreSQL and SQLite make jobs_claimable and jobs_leases partial here (only PENDING, only
-- leased rows). MySQL and MariaDB have no partial indexes: theirs stay whole, led by the status,
-- so a claim still reads only PENDING entries. Nothing to change; the migration keeps the three
-- dialects' histories alike.
DO 0;
