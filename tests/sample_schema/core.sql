-- A rental shop's schema modelled on PostgreSQL's DVD-rental sample (issue 19): fifteen
-- tables with an enum, a domain over integer, text[], a tsvector kept by a trigger,
-- bytea, character(20), two tables keyed by two columns, a payment table partitioned by
-- month, a nullable last_update on customer and last_update triggers. Generated rows,
-- the same every run. Added to the sample: staff.session (txid_snapshot, a type
-- without an equality operator) and payment.last_update (a cursor for payments).
-- tools/testdb/sample_rental.sql is a larger schema of the same shop for timing an adoption
-- with scaffold; this one is small and carries issue 19's traps, for the test.

CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);

CREATE FUNCTION last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.last_update = clock_timestamp();
  RETURN NEW;
END $$;

-- customer's application sets last_update itself at times (NULL included): the trigger
-- stamps only an update that leaves it as it was.
CREATE FUNCTION customer_last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.last_update IS NOT DISTINCT FROM OLD.last_update THEN
    NEW.last_update = clock_timestamp();
  END IF;
  RETURN NEW;
END $$;

CREATE TABLE actor (
  actor_id serial PRIMARY KEY,
  first_name text NOT NULL,
  last_name text NOT NULL,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE category (
  category_id serial PRIMARY KEY,
  name text NOT NULL,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE language (
  language_id serial PRIMARY KEY,
  name character(20) NOT NULL,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE film (
  film_id serial PRIMARY KEY,
  title text NOT NULL,
  description text,
  release_year year,
  language_id integer NOT NULL REFERENCES language,
  rental_duration smallint NOT NULL DEFAULT 3,
  rental_rate numeric(4, 2) NOT NULL DEFAULT 4.99,
  length smallint,
  replacement_cost numeric(5, 2) NOT NULL DEFAULT 19.99,
  rating mpaa_rating DEFAULT 'G',
  last_update timestamptz NOT NULL DEFAULT now(),
  special_features text[],
  fulltext tsvector NOT NULL
);
CREATE INDEX film_fulltext_idx ON film USING gist (fulltext);
CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON film FOR EACH ROW
  EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title, description);
CREATE TABLE film_actor (
  actor_id integer NOT NULL REFERENCES actor,
  film_id integer NOT NULL REFERENCES film,
  last_update timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_id, film_id)
);
CREATE TABLE film_category (
  film_id integer NOT NULL REFERENCES film,
  category_id integer NOT NULL REFERENCES category,
  last_update timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (film_id, category_id)
);
CREATE TABLE country (
  country_id serial PRIMARY KEY,
  country text NOT NULL,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE city (
  city_id serial PRIMARY KEY,
  city text NOT NULL,
  country_id integer NOT NULL REFERENCES country,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE address (
  address_id serial PRIMARY KEY,
  address text NOT NULL,
  address2 text,
  district text NOT NULL,
  city_id integer NOT NULL REFERENCES city,
  postal_code text,
  phone text NOT NULL,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE store (
  store_id serial PRIMARY KEY,
  manager_staff_id integer NOT NULL,
  address_id integer NOT NULL REFERENCES address,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE staff (
  staff_id serial PRIMARY KEY,
  first_name text NOT NULL,
  last_name text NOT NULL,
  address_id integer NOT NULL REFERENCES address,
  email text,
  store_id integer NOT NULL REFERENCES store,
  active boolean NOT NULL DEFAULT true,
  username text NOT NULL,
  password text,
  last_update timestamptz NOT NULL DEFAULT now(),
  picture bytea,
  session txid_snapshot
);
CREATE TABLE customer (
  customer_id serial PRIMARY KEY,
  store_id integer NOT NULL REFERENCES store,
  first_name text NOT NULL,
  last_name text NOT NULL,
  email text,
  address_id integer NOT NULL REFERENCES address,
  activebool boolean NOT NULL DEFAULT true,
  create_date date NOT NULL DEFAULT current_date,
  last_update timestamptz DEFAULT now(),
  active integer
);
CREATE TABLE inventory (
  inventory_id serial PRIMARY KEY,
  film_id integer NOT NULL REFERENCES film,
  store_id integer NOT NULL REFERENCES store,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rental (
  rental_id serial PRIMARY KEY,
  rental_date timestamptz NOT NULL,
  inventory_id integer NOT NULL REFERENCES inventory,
  customer_id integer NOT NULL REFERENCES customer,
  return_date timestamptz,
  staff_id integer NOT NULL REFERENCES staff,
  last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE payment (
  payment_id serial,
  customer_id integer NOT NULL,
  staff_id integer NOT NULL,
  rental_id integer NOT NULL,
  amount numeric(5, 2) NOT NULL,
  payment_date timestamptz NOT NULL,
  last_update timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (payment_id, payment_date)
) PARTITION BY RANGE (payment_date);
CREATE TABLE payment_p2007_02 PARTITION OF payment
  FOR VALUES FROM ('2007-02-01 00:00+00') TO ('2007-03-01 00:00+00');
CREATE TABLE payment_p2007_03 PARTITION OF payment
  FOR VALUES FROM ('2007-03-01 00:00+00') TO ('2007-04-01 00:00+00');
CREATE TABLE payment_p2007_04 PARTITION OF payment
  FOR VALUES FROM ('2007-04-01 00:00+00') TO ('2007-05-01 00:00+00');
CREATE TABLE payment_p2007_05 PARTITION OF payment
  FOR VALUES FROM ('2007-05-01 00:00+00') TO ('2007-06-01 00:00+00');

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['actor', 'category', 'language', 'film', 'film_actor',
    'film_category', 'country', 'city', 'address', 'store', 'staff', 'inventory', 'rental',
    'payment']
  LOOP
    EXECUTE format('CREATE TRIGGER last_updated BEFORE UPDATE ON %I FOR EACH ROW'
                   ' EXECUTE FUNCTION last_updated()', t);
  END LOOP;
END $$;
CREATE TRIGGER last_updated BEFORE UPDATE ON customer FOR EACH ROW
  EXECUTE FUNCTION customer_last_updated();

-- Rows: last_update spread over the past, the same every run.
INSERT INTO language (name, last_update)
SELECT name, '2006-02-15 10:02:19+00'
FROM unnest(ARRAY['English', 'Italian', 'Japanese', 'Mandarin', 'French', 'German']) AS name;
INSERT INTO category (name, last_update)
SELECT 'Category ' || g, '2006-02-15 09:46:27+00' FROM generate_series(1, 16) g;
INSERT INTO actor (first_name, last_name, last_update)
SELECT 'First' || g, 'Last' || (g % 37), '2013-05-26 14:47:57+00'::timestamptz + g * interval '1 s'
FROM generate_series(1, 200) g;
INSERT INTO film (title, description, release_year, language_id, rental_duration, rental_rate,
                  length, replacement_cost, rating, last_update, special_features)
SELECT 'Film ' || g, 'A ' || (ARRAY['Epic', 'Boring', 'Fanciful', 'Astounding'])[1 + g % 4]
         || ' story of a dog and a ' || (ARRAY['Robot', 'Monk', 'Dentist'])[1 + g % 3],
       2006, 1 + g % 6, 3 + g % 5, 0.99 + (g % 3) * 2, 46 + g % 140, 9.99 + g % 21,
       (ARRAY['G', 'PG', 'PG-13', 'R', 'NC-17'])[1 + g % 5]::mpaa_rating,
       '2013-05-26 14:50:58.951+00'::timestamptz + (g % 10) * interval '1 ms',
       CASE g % 4 WHEN 0 THEN ARRAY['Trailers', 'Deleted Scenes']
                  WHEN 1 THEN ARRAY['Behind the Scenes', 'it''s "quoted", {braced}']
                  WHEN 2 THEN '{}'::text[] END
FROM generate_series(1, 1000) g;
-- Many rows of each actor share one last_update, as in the sample (one bulk load).
INSERT INTO film_actor (actor_id, film_id, last_update)
SELECT a, f, '2006-02-15 10:05:03+00'
FROM generate_series(1, 200) a, generate_series(1, 1000) f
WHERE (a * 7 + f * 13) % 37 = 0;
INSERT INTO film_category (film_id, category_id, last_update)
SELECT f, 1 + f % 16, '2006-02-15 10:07:09+00' FROM generate_series(1, 1000) f;
INSERT INTO country (country, last_update)
SELECT 'Country ' || g, '2006-02-15 09:44:00+00' FROM generate_series(1, 20) g;
INSERT INTO city (city, country_id, last_update)
SELECT 'City ' || g, 1 + g % 20, '2006-02-15 09:45:25+00' FROM generate_series(1, 60) g;
INSERT INTO address (address, address2, district, city_id, postal_code, phone, last_update)
SELECT g || ' Main Street', CASE WHEN g % 3 = 0 THEN NULL ELSE '' END, 'District ' || g % 9,
       1 + g % 60, lpad((g * 97 % 99999)::text, 5, '0'), '555-' || g, '2006-02-15 09:45:30+00'
FROM generate_series(1, 610) g;
INSERT INTO store (manager_staff_id, address_id, last_update)
VALUES (1, 1, '2006-02-15 09:57:12+00'), (2, 2, '2006-02-15 09:57:12+00');
INSERT INTO staff (first_name, last_name, address_id, email, store_id, username, password,
                   last_update, picture, session)
VALUES ('Mike', 'Hillyer', 3, 'mike@example.com', 1, 'Mike', 'x', '2006-05-16 16:13:11+00',
        '\x89504e470d0a1a0a00ff'::bytea, '10:20:10,14,15'::txid_snapshot),
       ('Jon', 'Stephens', 4, 'jon@example.com', 2, 'Jon', 'y', '2006-05-16 16:13:11+00',
        NULL, NULL);
INSERT INTO customer (store_id, first_name, last_name, email, address_id, create_date,
                      last_update, active)
SELECT 1 + g % 2, 'Cust' || g, 'Omer' || g % 50, 'c' || g || '@example.org', 5 + g,
       '2006-02-14', '2013-05-26 14:49:45.738+00'::timestamptz + (g % 5) * interval '1 ms', 1
FROM generate_series(1, 599) g;
INSERT INTO inventory (film_id, store_id, last_update)
SELECT 1 + g % 1000, 1 + g % 2, '2006-02-15 10:09:17+00' FROM generate_series(1, 2000) g;
INSERT INTO rental (rental_date, inventory_id, customer_id, return_date, staff_id, last_update)
SELECT '2005-05-24 22:53:30+00'::timestamptz + g * interval '37 min', 1 + g % 2000,
       1 + g % 599, CASE WHEN g % 40 = 0 THEN NULL
                    ELSE '2005-05-26 22:04:30+00'::timestamptz + g * interval '37 min' END,
       1 + g % 2, '2006-02-16 02:30:53+00'::timestamptz + (g % 100) * interval '1 s'
FROM generate_series(1, 3000) g;
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date, last_update)
SELECT 1 + g % 599, 1 + g % 2, g, 0.99 + (g % 5) * 2,
       '2007-02-14 21:21:59+00'::timestamptz + (g * interval '46 min'),
       '2007-06-01 00:00:00+00'::timestamptz + (g % 50) * interval '1 s'
FROM generate_series(1, 3000) g;
ANALYZE;
