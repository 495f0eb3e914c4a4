"""Values at the edges for every built-in type a PostgreSQL 14-17 server has, as SQL.

The type matrix (tests/test_type_matrix.py) reads the types from the server's
catalog and takes their values from here: a type the catalog has and this
file lacks fails the matrix, so a new server's new type is never skipped
silently. Each value is an SQL expression, cast to its column's type.
"""

from __future__ import annotations

TEXTS = [
    "''",
    "E'tab\\there, line\\nbreak, quote\" back\\\\slash {braces} (parens)'",
    "'日本語 🐘 é'",
    "'  padded  '",
]

SAMPLES: dict[str, list[str]] = {
    # B: boolean
    "bool": ["true", "false"],
    # D: date and time, with the extremes each type takes
    "date": ["'2000-01-01'", "'infinity'", "'-infinity'", "'4713-01-01 BC'", "'5874897-12-31'"],
    "time": ["'00:00'", "'23:59:59.999999'", "'24:00:00'"],
    "timetz": ["'00:00:00+15:59'", "'23:59:59.999999-15:59'", "'12:00+05:30'"],
    "timestamp": [
        "'2000-01-01 00:00:00.000001'",
        "'infinity'",
        "'-infinity'",
        "'4713-01-01 00:00:00 BC'",
        "'294276-12-31 23:59:59.999999'",
    ],
    "timestamptz": [
        "'2000-01-01 00:00:00.000001+00'",
        "'infinity'",
        "'-infinity'",
        "'4713-01-01 00:00:00+00 BC'",
        "'294276-12-31 23:59:59.999999+00'",
        "'2020-06-01 12:00:00+05:30'",
    ],
    # G: geometric
    "point": ["'(0,0)'", "'(NaN,Infinity)'", "'(-0,1e-300)'", "'(-1.7976931348623157e308,1)'"],
    "line": ["'{1,2,3}'", "'{1,-1,0}'"],
    "lseg": ["'[(0,0),(1,1)]'", "'[(-0,NaN),(1e300,-1e300)]'"],
    "box": ["'(0,0),(1,1)'", "'(1,1),(2,2)'", "'(-1e300,-1),(1e300,1)'"],
    "path": ["'((0,0),(1,1),(2,0))'", "'[(0,0),(1,1)]'"],
    "polygon": ["'((0,0),(1,1),(2,0))'", "'((-0,0))'"],
    "circle": ["'<(0,0),1>'", "'<(1.5,-2),0>'", "'<(1e300,0),1e300>'"],
    # I: network
    "cidr": ["'10.0.0.0/8'", "'2001:db8::/32'", "'0.0.0.0/0'"],
    "inet": ["'192.168.0.1/24'", "'::1'", "'255.255.255.255'", "'::ffff:1.2.3.4/128'"],
    # N: numeric, each at its ends, NaN, the infinities, -0, tiny and huge
    "int2": ["-32768", "32767", "0"],
    "int4": ["-2147483648", "2147483647", "0"],
    "int8": ["-9223372036854775808", "9223372036854775807", "0"],
    "float4": [
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "'-0'",
        "'3.4028235e38'",
        "'1.4e-45'",
        "'0.1'",
    ],
    "float8": [
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "'-0'",
        "'1.7976931348623157e308'",
        "'5e-324'",
        "'0.1'",
    ],
    "numeric": [
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "'-0.000000000000000000000000000001'",
        "'123456789012345678901234567890.123456789012345678901234567890'",
        "'1.00'",
        "'1e-16383'",
    ],
    "money": ["'-92233720368547758.08'", "'92233720368547758.07'", "'0'"],
    "oid": ["0", "4294967295"],
    "regclass": ["'pg_class'", "'pg_catalog.pg_type'"],
    "regcollation": ["'\"C\"'", "'\"POSIX\"'"],
    "regconfig": ["'english'", "'simple'"],
    "regdictionary": ["'simple'", "'english_stem'"],
    "regnamespace": ["'pg_catalog'", "'public'"],
    "regoper": ["'pg_catalog.||/'", "'|/'"],
    "regoperator": ["'+(integer,integer)'", "'=(text,text)'"],
    "regproc": ["'now'", "'pg_catalog.pg_sleep'"],
    "regprocedure": ["'abs(integer)'", "'sum(numeric)'"],
    "regrole": ["'pg_monitor'", "'pg_read_all_data'"],
    "regtype": ["'integer'", "'timestamp with time zone[]'"],
    # S: strings
    "text": TEXTS,
    "varchar": TEXTS,
    "bpchar": TEXTS,
    "name": ["'pg_catalog'", "'" + "n" * 63 + "'", "'日本'"],
    "char": ["'a'", "'Z'", "E'\\\\'"],
    # T: timespan
    "interval": [
        "'178000000 years'",
        "'-178000000 years'",
        "'1 day'",
        "'24 hours'",
        "'1 mon -2 days 00:00:00.000001'",
    ],
    # U: user-defined (PostgreSQL's own)
    "aclitem": ["'=r/pg_monitor'", "'pg_monitor=arwdDxt/pg_monitor'"],
    "bytea": ["'\\x'", "'\\x00ff0a5c22'", "decode(repeat('ab', 3000), 'hex')"],
    "cid": ["'0'", "'4294967295'"],
    "xid": ["'0'", "'4294967295'"],
    "xid8": ["'0'", "'18446744073709551615'"],
    "json": [
        '\'{"a": [1, 2.50, null, "é"], "big": 1e400, "a": 2}\'',
        "'  [ ]  '",
        "'\"\\u0000\"'",
    ],
    "jsonb": [
        '\'{"big": 123456789012345678901234567890.123456789, "neg": -0, "s": "日本"}\'',
        "'[]'",
        "'null'",
        '\'{"n": 1e-400, "e": {}}\'',
    ],
    "jsonpath": ["'$.a[*] ? (@ > 1)'", "'strict $.\"日本\"'"],
    "macaddr": ["'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'"],
    "macaddr8": ["'08:00:2b:01:02:03:04:05'", "'00:00:00:00:00:00:00:00'"],
    "pg_lsn": ["'0/0'", "'FFFFFFFF/FFFFFFFF'"],
    "pg_snapshot": ["'10:20:10,14,15'", "'1:1:'"],
    "txid_snapshot": ["'10:20:10,14,15'", "'1:1:'"],
    "refcursor": ["'c1'", "''"],
    "tid": ["'(0,1)'", "'(4294967295,65535)'"],
    "tsquery": ["'''fat'' & (''rat'' | !''cat'')'", "''"],
    "tsvector": ["'a fat:1A,2 cat sat:3'", "''", "'日本:1'"],
    "uuid": ["'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'"],
    "xml": ["'<a b=\"1\">é</a>'", "'text only'"],
    # V: bit strings (bit alone is bit(1))
    "bit": ["'1'", "'0'"],
    "varbit": ["''", "'1010101010101010101'"],
    # A: PostgreSQL's own vectors
    "int2vector": ["'1 2 3'", "''"],
    "oidvector": ["'1 4294967295'", "''"],
    # R: ranges and multiranges
    "int4range": ["'[1,5)'", "'empty'", "'(,)'", "'[-2147483648,2147483647)'"],
    "int8range": ["'[1,5)'", "'empty'", "'(,9223372036854775807)'"],
    "numrange": ["'[1.5,2.50]'", "'empty'", "'(-Infinity,Infinity)'"],
    "daterange": ["'[2000-01-01,infinity)'", "'empty'", "'(,)'"],
    "tsrange": ["'[2000-01-01,2000-01-02 00:00:00.000001)'", "'empty'"],
    "tstzrange": ["'[2000-01-01+00,infinity)'", "'empty'"],
    "int4multirange": ["'{}'", "'{[1,3), [5,7)}'"],
    "int8multirange": ["'{}'", "'{[1,3), [5,9223372036854775807)}'"],
    "nummultirange": ["'{}'", "'{[1.5,2), (3,Infinity)}'"],
    "datemultirange": ["'{}'", "'{[2000-01-01,2000-02-01), [2001-01-01,)}'"],
    "tsmultirange": ["'{}'", "'{[2000-01-01,2000-01-02)}'"],
    "tstzmultirange": ["'{}'", "'{[2000-01-01+00,2000-01-02+00)}'"],
}

# Types with a typmod, each beside its base type.
WITH_TYPMOD: dict[str, str] = {
    "varchar(10)": "varchar",
    "bpchar(12)": "bpchar",
    "numeric(20, 5)": "numeric",
    "timestamp(0)": "timestamp",
    "timestamptz(3)": "timestamptz",
    "time(2)": "time",
    "interval(1)": "interval",
    "bit(4)": "bit",
    "varbit(8)": "varbit",
}
TYPMOD_SAMPLES: dict[str, list[str]] = {
    "varchar(10)": ["''", "'日本語 🐘 é'", "'ten chars!'"],
    "bpchar(12)": ["''", "'日本語 🐘 é'"],
    "numeric(20, 5)": ["'NaN'", "'-123456789012345.12345'", "'0.00001'"],
    "timestamp(0)": ["'2000-01-01 00:00:01'", "'infinity'"],
    "timestamptz(3)": ["'2000-01-01 00:00:00.123+00'", "'-infinity'"],
    "time(2)": ["'23:59:59.99'"],
    "interval(1)": ["'1 day 00:00:00.1'", "'-178000000 years'"],
    "bit(4)": ["'1010'", "'0000'"],
    "varbit(8)": ["''", "'10101010'"],
}

# Types PostgreSQL only ever builds itself (their input functions always raise): refused.
NO_VALUES = {
    "pg_node_tree",
    "pg_ndistinct",
    "pg_dependencies",
    "pg_mcv_list",
    "pg_brin_bloom_summary",
    "pg_brin_minmax_multi_summary",
    "gtsvector",
}

# User-made types, created on both sides (enum labels, composites, domains).
USER_TYPES = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy 😀', 'a,b', '');
CREATE TYPE pair AS (n numeric, t text, j json, a int[], at timestamptz);
CREATE TYPE tagged AS (m mood, p pair);
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN cents AS numeric(12, 2);
CREATE DOMAIN tags AS text[];
CREATE DOMAIN pair_d AS pair;
CREATE DOMAIN moods AS mood[];
CREATE TYPE floatrange AS RANGE (subtype = float8);
"""
USER_SAMPLES: dict[str, tuple[str, list[str]]] = {
    # type: (family, values)
    "mood": ("enum", ["'sad'", "'happy 😀'", "'a,b'", "''"]),
    "pair": (
        "composite",
        [
            "ROW(1.50, 'a,b \"q\"', '{\"x\": [1]}', '{1,NULL}', 'infinity')",
            "ROW(NULL, '', NULL, '{}', NULL)",
            "ROW('NaN', '日本', 'null', NULL, '2000-01-01+00')",
        ],
    ),
    "tagged": ("composite", ["ROW('ok', ROW(1, 't', '[]', '{2}', NULL))", "ROW(NULL, NULL)"]),
    "posint": ("domain", ["1", "2147483647"]),
    "cents": ("domain", ["'-9999999999.99'", "'0.10'"]),
    "tags": ("domain", ["'{}'", "'{a,NULL,\"b,c\"}'"]),
    "pair_d": ("domain", ["ROW(2, 'x', '{}', '{3}', NULL)"]),
    "moods": ("domain", ["'{sad,NULL,\"happy 😀\"}'", "'{}'"]),
    "floatrange": ("range", ["'[1.5,Infinity)'", "'empty'", "'(-0,0.1]'"]),
}

# Extension types, where the server ships the extension.
EXTENSION_SAMPLES: dict[str, tuple[str, list[str]]] = {
    "hstore": ("hstore", ['\'a=>1, "b c"=>NULL, "日本"=>"é"\'', "''"]),
    "citext": ("citext", ["'MiXeD Case'", "''", "'日本'"]),
    "ltree": ("ltree", ["'top.science.astronomy'", "''"]),
}
