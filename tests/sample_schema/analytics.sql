-- The rental shop's destination tables in analytics_raw, as a user writes them from
-- core's (tests/sample_schema/core.sql): same columns and types, the primary keys, no
-- defaults, triggers or foreign keys; payment a plain table. Analytics already has a
-- domain named year of its own, over date (issue 19's problem 2), and film's
-- release_year is declared with it by mistake.

CREATE TYPE public.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN public.year AS date;

CREATE TABLE analytics_raw.actor (
  actor_id integer PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
  last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.category (
  category_id integer PRIMARY KEY, name text NOT NULL, last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.language (
  language_id integer PRIMARY KEY, name character(20) NOT NULL, last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.film (
  film_id integer PRIMARY KEY, title text NOT NULL, description text, release_year year,
  language_id integer NOT NULL, rental_duration smallint NOT NULL,
  rental_rate numeric(4, 2) NOT NULL, length smallint, replacement_cost numeric(5, 2) NOT NULL,
  rating mpaa_rating, last_update timestamptz NOT NULL, special_features text[],
  fulltext tsvector NOT NULL
);
CREATE TABLE analytics_raw.film_actor (
  actor_id integer NOT NULL, film_id integer NOT NULL, last_update timestamptz NOT NULL,
  PRIMARY KEY (actor_id, film_id)
);
CREATE TABLE analytics_raw.film_category (
  film_id integer NOT NULL, category_id integer NOT NULL, last_update timestamptz NOT NULL,
  PRIMARY KEY (film_id, category_id)
);
CREATE TABLE analytics_raw.country (
  country_id integer PRIMARY KEY, country text NOT NULL, last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.city (
  city_id integer PRIMARY KEY, city text NOT NULL, country_id integer NOT NULL,
  last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.address (
  address_id integer PRIMARY KEY, address text NOT NULL, address2 text, district text NOT NULL,
  city_id integer NOT NULL, postal_code text, phone text NOT NULL,
  last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.store (
  store_id integer PRIMARY KEY, manager_staff_id integer NOT NULL, address_id integer NOT NULL,
  last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.staff (
  staff_id integer PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
  address_id integer NOT NULL, email text, store_id integer NOT NULL, active boolean NOT NULL,
  username text NOT NULL, password text, last_update timestamptz NOT NULL, picture bytea,
  session txid_snapshot
);
CREATE TABLE analytics_raw.customer (
  customer_id integer PRIMARY KEY, store_id integer NOT NULL, first_name text NOT NULL,
  last_name text NOT NULL, email text, address_id integer NOT NULL, activebool boolean NOT NULL,
  create_date date NOT NULL, last_update timestamptz, active integer
);
CREATE TABLE analytics_raw.inventory (
  inventory_id integer PRIMARY KEY, film_id integer NOT NULL, store_id integer NOT NULL,
  last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.rental (
  rental_id integer PRIMARY KEY, rental_date timestamptz NOT NULL, inventory_id integer NOT NULL,
  customer_id integer NOT NULL, return_date timestamptz, staff_id integer NOT NULL,
  last_update timestamptz NOT NULL
);
CREATE TABLE analytics_raw.payment (
  payment_id integer NOT NULL, customer_id integer NOT NULL, staff_id integer NOT NULL,
  rental_id integer NOT NULL, amount numeric(5, 2) NOT NULL, payment_date timestamptz NOT NULL,
  last_update timestamptz NOT NULL, PRIMARY KEY (payment_id, payment_date)
);
