-- A 15-table core schema in the style of the public sample databases (a video rental shop):
-- an enum, a domain with a check, arrays, tsvector, bytea, character(n), numeric(p,s),
-- composite primary keys, foreign keys, defaults, sequences, a trigger and a table partitioned
-- by month. tools/bench/adoption.py times its adoption with `scaffold`; tests/test_scaffold.py syncs
-- it. Rows: ~1,000 films, ~5,000 film actors, ~16,000 rentals and payments.
CREATE SCHEMA rental;
SET search_path = rental;

CREATE TYPE mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE DOMAIN year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);

CREATE FUNCTION touch_last_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.last_update := now(); RETURN NEW; END $$;

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
CREATE TRIGGER film_last_update BEFORE UPDATE ON film
    FOR EACH ROW EXECUTE FUNCTION touch_last_update();
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
    picture bytea
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
-- No last_update: its cursor is payment_date, named with --cursor.
CREATE TABLE payment (
    payment_id serial NOT NULL,
    customer_id integer NOT NULL REFERENCES customer,
    staff_id integer NOT NULL REFERENCES staff,
    rental_id integer NOT NULL REFERENCES rental,
    amount numeric(5, 2) NOT NULL,
    payment_date timestamptz NOT NULL,
    PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);
CREATE TABLE payment_p2022_01 PARTITION OF payment FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
CREATE TABLE payment_p2022_02 PARTITION OF payment FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
CREATE TABLE payment_p2022_03 PARTITION OF payment FOR VALUES FROM ('2022-03-01') TO ('2022-04-01');
CREATE TABLE payment_p2022_04 PARTITION OF payment FOR VALUES FROM ('2022-04-01') TO ('2022-05-01');

-- Rows, made up but shaped like the sample's.
INSERT INTO language (name) SELECT unnest(ARRAY['English', 'Italian', 'Japanese', 'Mandarin',
    'French', 'German']);
INSERT INTO category (name) SELECT 'Category ' || g FROM generate_series(1, 16) g;
INSERT INTO actor (first_name, last_name)
    SELECT 'FIRST' || g, 'LAST' || (g % 97) FROM generate_series(1, 200) g;
INSERT INTO film (title, description, release_year, language_id, rental_duration, rental_rate,
        length, replacement_cost, rating, special_features, fulltext)
    SELECT 'FILM ' || g, 'A ' || md5(g::text) || ' story of a ' || (ARRAY['dog', 'cat', 'robot'])[g % 3 + 1],
        1990 + g % 30, g % 6 + 1, (3 + g % 5)::smallint, (0.99 + g % 5)::numeric(4, 2),
        (46 + g % 140)::smallint, (9.99 + g % 21)::numeric(5, 2),
        (enum_range(NULL::mpaa_rating))[g % 5 + 1],
        (CASE g % 4 WHEN 0 THEN '{Trailers}' WHEN 1 THEN '{Commentaries,"Deleted Scenes"}'
            WHEN 2 THEN '{"Behind the Scenes"}' END)::text[],
        to_tsvector('english', 'FILM ' || g || ' ' || md5(g::text))
    FROM generate_series(1, 1000) g;
INSERT INTO film_actor (actor_id, film_id)
    SELECT DISTINCT (g * 7) % 200 + 1, (g * 13) % 1000 + 1 FROM generate_series(1, 5500) g;
INSERT INTO film_category (film_id, category_id) SELECT g, g % 16 + 1 FROM generate_series(1, 1000) g;
INSERT INTO country (country) SELECT 'Country ' || g FROM generate_series(1, 109) g;
INSERT INTO city (city, country_id) SELECT 'City ' || g, g % 109 + 1 FROM generate_series(1, 600) g;
INSERT INTO address (address, address2, district, city_id, postal_code, phone)
    SELECT g || ' Main Street', CASE WHEN g % 3 = 0 THEN '' END, 'District ' || g % 50,
        g % 600 + 1, lpad((g * 37 % 99999)::text, 5, '0'), '555' || g
    FROM generate_series(1, 603) g;
INSERT INTO store (manager_staff_id, address_id) VALUES (1, 1), (2, 2);
INSERT INTO staff (first_name, last_name, address_id, email, store_id, username, password, picture)
    VALUES ('Mike', 'Hillyer', 3, 'mike@example.com', 1, 'Mike', md5('x'), '\x89504e470d0a1a0a00ff'),
           ('Jon', 'Stephens', 4, 'jon@example.com', 2, 'Jon', md5('y'), NULL);
INSERT INTO customer (store_id, first_name, last_name, email, address_id, create_date, active)
    SELECT g % 2 + 1, 'CUSTOMER' || g, 'SURNAME' || g, 'c' || g || '@example.com', g % 599 + 5,
        DATE '2022-01-01' + g % 30, g % 2
    FROM generate_series(1, 599) g;
INSERT INTO inventory (film_id, store_id) SELECT g % 1000 + 1, g % 2 + 1 FROM generate_series(1, 4581) g;
INSERT INTO rental (rental_date, inventory_id, customer_id, return_date, staff_id)
    SELECT TIMESTAMPTZ '2022-01-01' + g * interval '9 minutes', g % 4581 + 1, g % 599 + 1,
        CASE WHEN g % 10 <> 0 THEN TIMESTAMPTZ '2022-01-04' + g * interval '9 minutes' END, g % 2 + 1
    FROM generate_series(1, 16044) g;
INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date)
    SELECT g % 599 + 1, g % 2 + 1, g, (0.99 + g % 10)::numeric(5, 2),
        TIMESTAMPTZ '2022-01-01' + g * interval '9 minutes'
    FROM generate_series(1, 16044) g;
RESET search_path;
