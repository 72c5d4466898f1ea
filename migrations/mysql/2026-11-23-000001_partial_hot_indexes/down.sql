-- Undoes nothing: MySQL and MariaDB keep their whole indexes (see up.sql).
DO 0;
