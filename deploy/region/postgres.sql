-- The ledger's database on PostgreSQL 15 (docs/region.md). As the postgres superuser:
--   psql -v password="'…'" -f deploy/region/postgres.sql
-- The gateways create and migrate the schema themselves at start (postgrator; table passerelle_schema),
-- so their role owns the database. C collation: text sorts as in the SQLite ledger.
CREATE ROLE passerelle LOGIN PASSWORD :password;
CREATE DATABASE passerelle OWNER passerelle ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\connect passerelle
-- The name search's accent folding (a trusted extension: the owner could create it too).
CREATE EXTENSION IF NOT EXISTS unaccent;
