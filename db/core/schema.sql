-- Core (application-owned) schema used by the demo and the tests.
-- Not managed by dbmate: in production the application owns these tables.

CREATE TABLE "StatEvent" (
  "id" text PRIMARY KEY,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  "type" text NOT NULL,            -- click | print | apply | account
  "source" text NOT NULL,          -- api | widget | campaign | seo | jstag | publisher
  "source_id" text,
  "source_name" text,
  "from_publisher_id" text,
  "to_publisher_id" text,
  "mission_id" text,
  "host" text,
  "user" text,                     -- reserved word on purpose
  "is_bot" boolean NOT NULL DEFAULT false,
  "tags" text[],
  "custom_attributes" jsonb
);
CREATE INDEX "StatEvent_updatedAt_id_idx" ON "StatEvent" ("updatedAt", "id");

CREATE TABLE "ImportJob" (
  "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "source" text NOT NULL,
  "status" text NOT NULL,          -- running | succeeded | failed
  "runAt" timestamptz NOT NULL DEFAULT now(),
  "stats" jsonb,
  "errorText" text,
  "startedAt" timestamptz NOT NULL DEFAULT now(),
  "finishedAt" timestamptz,
  "nbCreated" integer NOT NULL DEFAULT 0,
  "nbUpdated" integer NOT NULL DEFAULT 0,
  "nbSkipped" integer NOT NULL DEFAULT 0,
  "nbErrors" integer NOT NULL DEFAULT 0
);
CREATE INDEX "ImportJob_finishedAt_id_idx" ON "ImportJob" ("finishedAt", "id");
