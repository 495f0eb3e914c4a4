-- migrate:up
CREATE SCHEMA IF NOT EXISTS analytics_raw;

-- Destination of the ImportJob definition: the core "ImportJob" columns with
-- the same names and types; id (the conflict column) is the primary key.
CREATE TABLE analytics_raw.import_job (
  "id" uuid PRIMARY KEY,
  "source" text NOT NULL,
  "status" text NOT NULL,
  "runAt" timestamptz NOT NULL,
  "stats" jsonb,
  "errorText" text,
  "startedAt" timestamptz NOT NULL,
  "finishedAt" timestamptz,
  "nbCreated" integer NOT NULL,
  "nbUpdated" integer NOT NULL,
  "nbSkipped" integer NOT NULL,
  "nbErrors" integer NOT NULL
);

-- migrate:down
DROP TABLE analytics_raw.import_job;
