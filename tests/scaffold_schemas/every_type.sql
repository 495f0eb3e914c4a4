-- A core schema whose tables use every type family scaffold copies (tests/test_scaffold.py).
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('sad', 'ok', 'happy', 'it''s "fine"');
CREATE DOMAIN shop.positive_money AS numeric(12, 2) NOT NULL
    CONSTRAINT positive CHECK (VALUE > 0) CONSTRAINT small CHECK (VALUE < 1000000);
CREATE DOMAIN shop.sku AS character(8) CHECK (VALUE ~ '^[A-Z0-9]+ *$');
CREATE TYPE shop.address AS (street text, "Zip Code" character varying(10), mood shop.mood);
CREATE TYPE shop.floatrange AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = float8mi);

CREATE TABLE shop."Everything" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    feeling shop.mood NOT NULL,
    feelings shop.mood[],
    price shop.positive_money,
    code shop.sku,
    home shop.address,
    homes shop.address[],
    span shop.floatrange,
    spans shop.floatmultirange,
    days daterange,
    amount numeric(10, 3),
    big numeric,
    flag character(3),
    label varchar(20) DEFAULT 'x',
    ints integer[],
    matrix float8[][],
    raw bytea,
    doc jsonb,
    plain json,
    words tsvector,
    wait interval,
    at_local timestamp(3),
    born date,
    alarm time with time zone,
    u uuid,
    ip inet,
    net cidr,
    mac macaddr,
    bits bit varying(12),
    pt point,
    money_col money,
    "select" text,
    total numeric GENERATED ALWAYS AS (amount * 2) STORED
);
CREATE INDEX ON shop."Everything" ("updatedAt", id);

CREATE TABLE shop.line (
    order_id integer NOT NULL,
    line_no smallint NOT NULL,
    updated_at timestamp without time zone,
    qty integer NOT NULL CHECK (qty > 0),
    sku shop.sku,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE shop.event (
    id integer NOT NULL,
    modified timestamptz NOT NULL,
    kind shop.mood,
    body text,
    PRIMARY KEY (id, modified)
) PARTITION BY RANGE (modified);
CREATE TABLE shop.event_2025 PARTITION OF shop.event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.event_2026 PARTITION OF shop.event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

INSERT INTO shop."Everything" ("updatedAt", feeling, feelings, price, code, home, homes, span, spans,
    days, amount, big, flag, label, ints, matrix, raw, doc, plain, words, wait, at_local, born,
    alarm, u, ip, net, mac, bits, pt, money_col, "select")
VALUES
    ('2026-01-01 00:00:00.000001+00', 'it''s "fine"', '{sad,ok,happy,"it''s \"fine\""}', 999999.99,
     'AB12', ROW('1 Main St', '0123', 'happy'), ARRAY[ROW('a,b', NULL, 'sad')::shop.address, NULL],
     '[1.5,2.5)', '{[1,2), [3,4)}', '[2026-01-01,2026-02-01)', -1234567.891,
     123456789012345678901234567890.000000000000000000001, 'ab', 'tab	and \ back',
     '{1,NULL,-2147483648}', '{{1.5,2},{NaN,-Infinity}}', '\x00ff5c', '{"n": 1, "é": [true, null]}',
     '{"b": 1, "a": 2, "a": 3}', 'fat:1A cat rat:3', '1 year 2 mons -3 days 04:05:06.789',
     '2026-03-04 05:06:07.891', '0001-01-01', '23:59:59.999999+05:30', '00000000-0000-0000-0000-000000000001',
     '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', B'101', '(1.5,-2)', '$1,234.56', 'reserved'),
    ('2025-06-01 12:00:00+00', 'sad', '{}', 0.01, 'Z', NULL, '{}', 'empty', '{}', 'empty', 0, 'NaN', '   ', '',
     '{}', '{}', '', '[]', 'null', '', '0', 'infinity', 'infinity', '00:00:00+00', NULL, '::1', '::/0', NULL,
     B'', NULL, NULL, NULL),
    ('2026-01-01 00:00:00.000001+00', 'ok', NULL, 5, NULL, ROW(NULL, NULL, NULL), NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL);

INSERT INTO shop.line VALUES
    (1, 1, '2026-01-01 10:00', 3, 'A1'), (1, 2, '2026-01-01 10:00', 1, NULL),
    (2, 1, '2026-01-02 00:00', 7, 'B2'), (3, 1, '2026-01-03 00:00', 1, NULL);

INSERT INTO shop.event VALUES
    (1, '2025-05-05 05:05:05+00', 'happy', 'a'), (1, '2026-05-05 05:05:05+00', 'sad', 'b'),
    (2, '2026-05-05 05:05:05+00', NULL, NULL);
