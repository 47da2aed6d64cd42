"""Logistics: warehouses, carriers, shipments with tracking events, and month-end inventory snapshots (2022-2024)."""

from __future__ import annotations

import datetime as dt
import random

from tests.analyst_sql.model import BOOL, DATE, INT, MONEY, TEXT, TS, Query, Table, frame, maybe, money, rand_date

NAME = "logistics"

WAREHOUSES = [("BER1", "Berlin", "DE"), ("BER2", "Berlin", "DE"), ("HAM1", "Hamburg", "DE"), ("muc1", "Munich", "DE"),
              ("VIE1", "Vienna", "AT"), ("ZRH1", "Zurich", "CH"), ("PAR1", "Paris", "FR"), ("LYS1", "Lyon", "FR"),
              ("MAD1", "Madrid", "ES"), ("BCN1", "Barcelona", "ES"), ("MIL1", "Milan", "IT"), ("ROM1", "Rome", "IT"),
              ("AMS1", "Amsterdam", "NL"), ("RTM1", "Rotterdam", "NL"), ("WAW1", "Warsaw", "PL"),
              ("PRG1", "Prague", "CZ"), ("CPH1", "Copenhagen", "DK"), ("STO1", "Stockholm", "SE"),
              ("dub1", "Dublin", "IE"), ("LIS1", "Lisbon", "PT")]
CARRIERS = [("DHL Freight", "Road"), ("UPS", "Air"), ("Maersk", "Sea"), ("FedEx", "Air"), ("DB Cargo", "Rail"),
            ("GLS", "road"), ("DPD", "Road"), ("Hermes", "Road"), ("TNT", "Air"), ("MSC", "Sea"),
            ("Kuehne Nagel", "Sea"), ("Schenker", "Road"), ("Geodis", "Rail"), ("XPO", "Road"), ("CEVA", "Air"),
            ("Bring", "Road"), ("PostNord", "Road"), ("Colissimo", "road"), ("SEUR", "Road"), ("Rhenus", "Rail")]
DESTINATIONS = [("Vienna", "AT"), ("Graz", "AT"), ("Zurich", "CH"), ("Geneva", "CH"), ("Cologne", "DE"),
                ("Leipzig", "DE"), ("Berlin", "DE"), ("Paris", "FR"), ("Nice", "FR"), ("Porto", "PT"),
                ("Krakow", "PL"), ("Antwerp", "BE"), ("Brussels", "BE"), ("Oslo", "NO")]
EVENT_LOCATIONS = ["Hub Leipzig", "Hub Paris", "hub paris", "Customs Basel", "Depot Vienna", None]


def _shipments(rng: random.Random) -> list[tuple]:
    rows = []
    for sid in range(1, 2001):
        day = rand_date(rng, dt.date(2022, 1, 1), dt.date(2024, 12, 31))
        if sid % 97 == 0:
            day = rng.choice([dt.date(2024, 2, 29), dt.date(2023, 12, 31), dt.date(2024, 1, 1)])
        shipped = dt.datetime.combine(day, dt.time(rng.randint(5, 21), rng.choice([0, 15, 30, 45]), 0))
        priority = rng.choice(["standard", "standard", "express", "economy"])
        carrier = rng.randint(1, 20) if sid % 41 else 20
        transit = dt.timedelta(hours=rng.randint(6, 30) * {"express": 1, "standard": 2, "economy": 4}[priority],
                               minutes=rng.choice([0, 10, 25, 40]))
        status = rng.choice(["delivered"] * 14 + ["Delivered", "in_transit", "returned", "lost"])
        delivered = shipped + transit if status.lower() in ("delivered", "returned") else None
        promised = day + dt.timedelta(days={"express": 1, "standard": 3, "economy": 6}[priority])
        city, country = rng.choice(DESTINATIONS)
        city = rng.choice([city] * 8 + [city.upper(), city.lower(), f"{city} "])
        weight = money(rng.choice([0.5, 1.25, 2, 2, 5, 12.75, 40, 125.5, 800]) * rng.choice([1, 1, 2, 3]))
        cost = money(weight * money(rng.choice(["0.80", "1.10", "1.35", "2.05"])) + money(rng.choice([5, 9.95, 12.5])))
        rows.append((sid, f"TRK-{day.year}-{sid:06d}", rng.randint(1, 20), carrier, city, country, shipped, delivered,
                     promised, weight, cost, status, priority, rng.random() < 0.2))
    return rows


def _events(rng: random.Random, shipments: list[tuple]) -> list[tuple]:
    rows = []
    for s in shipments[:1150]:
        sid, shipped, delivered = s[0], s[6], s[7]
        times = [("picked_up", shipped)]
        middle = shipped + dt.timedelta(hours=rng.randint(2, 5), milliseconds=rng.choice([0, 0, 0, 250, 500]))
        times.append((rng.choice(["departed", "departed", "exception"]), middle))
        if delivered:
            times.append(("delivered", delivered))
        for kind, when in times:
            if len(rows) < 3000:
                location = maybe(rng, 0.8, rng.choice(EVENT_LOCATIONS))
                notes = [None, None, None, "", "left at door", "Signed by J. Doe"]
                note = rng.choice(notes) if kind == "delivered" else None
                rows.append((len(rows) + 1, sid, when, kind, location, note))
    return rows


def _snapshots(rng: random.Random) -> list[tuple]:
    rows = []
    month_ends = [dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)
                  for y in (2023, 2024) for m in range(1, 13)]
    for wid in range(1, 21):
        for sku in ("SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"):
            level = rng.randint(50, 900)
            for day in month_ends:
                level = max(0, level + rng.randint(-120, 130))
                rows.append((wid, day, sku, level, rng.choice([0, 0, 10, 25, level // 2, level + 5])))
    return rows


def _tables() -> dict[str, Table]:
    rng = random.Random(3003)
    warehouses = [(i, code, city, country, rng.choice([5000, 8000, 8000, 12000, 20000]),
                   rand_date(rng, dt.date(2005, 1, 1), dt.date(2022, 6, 30)), rng.random() < 0.4,
                   maybe(rng, 0.7, f"lead.{code.lower()}@logistics.example"))
                  for i, (code, city, country) in enumerate(WAREHOUSES, start=1)]
    carriers = [(i, name, mode, i % 8 != 0, money(rng.choice(["3.25", "3.75", "4.05", "4.15", "4.50", "4.85"])))
                for i, (name, mode) in enumerate(CARRIERS, start=1)]
    shipments = _shipments(rng)
    events, snapshots = _events(rng, shipments), _snapshots(rng)
    return {
        "warehouses": Table(
            "CREATE TABLE warehouses (warehouse_id integer PRIMARY KEY, code text NOT NULL, city text NOT NULL, "
            "country text NOT NULL, capacity integer NOT NULL, opened_on date NOT NULL, is_automated boolean NOT NULL, "
            "manager_email text)",
            frame([("warehouse_id", INT), ("code", TEXT), ("city", TEXT), ("country", TEXT), ("capacity", INT),
                   ("opened_on", DATE), ("is_automated", BOOL), ("manager_email", TEXT)], warehouses)),
        "carriers": Table(
            "CREATE TABLE carriers (carrier_id integer PRIMARY KEY, name text NOT NULL, mode text NOT NULL, "
            "is_active boolean NOT NULL, rating numeric(10,2) NOT NULL)",
            frame([("carrier_id", INT), ("name", TEXT), ("mode", TEXT), ("is_active", BOOL), ("rating", MONEY)],
                  carriers)),
        "shipments": Table(
            "CREATE TABLE shipments (shipment_id integer PRIMARY KEY, tracking_code text NOT NULL UNIQUE, "
            "origin_warehouse_id integer NOT NULL REFERENCES warehouses, "
            "carrier_id integer NOT NULL REFERENCES carriers, "
            "destination_city text NOT NULL, destination_country text NOT NULL, shipped_at timestamp NOT NULL, "
            "delivered_at timestamp, promised_date date NOT NULL, weight_kg numeric(10,2) NOT NULL, "
            "freight_cost numeric(10,2) NOT NULL, status text NOT NULL, priority text NOT NULL, "
            "is_fragile boolean NOT NULL)",
            frame([("shipment_id", INT), ("tracking_code", TEXT), ("origin_warehouse_id", INT), ("carrier_id", INT),
                   ("destination_city", TEXT), ("destination_country", TEXT), ("shipped_at", TS),
                   ("delivered_at", TS), ("promised_date", DATE), ("weight_kg", MONEY), ("freight_cost", MONEY),
                   ("status", TEXT), ("priority", TEXT), ("is_fragile", BOOL)], shipments)),
        "shipment_events": Table(
            "CREATE TABLE shipment_events (event_id integer PRIMARY KEY, "
            "shipment_id integer NOT NULL REFERENCES shipments, event_time timestamp NOT NULL, "
            "event_type text NOT NULL, location text, note text)",
            frame([("event_id", INT), ("shipment_id", INT), ("event_time", TS), ("event_type", TEXT),
                   ("location", TEXT), ("note", TEXT)], events)),
        "inventory_snapshots": Table(
            "CREATE TABLE inventory_snapshots (warehouse_id integer NOT NULL REFERENCES warehouses, "
            "snapshot_date date NOT NULL, sku text NOT NULL, on_hand integer NOT NULL, reserved integer NOT NULL, "
            "PRIMARY KEY (warehouse_id, snapshot_date, sku))",
            frame([("warehouse_id", INT), ("snapshot_date", DATE), ("sku", TEXT), ("on_hand", INT),
                   ("reserved", INT)], snapshots)),
    }


TABLES = _tables()

QUERIES: list[Query] = [
    Query("logistics_on_time_by_carrier", "What share of each carrier's delivered shipments arrived on time?",
          """SELECT c.Name AS Carrier, COUNT(*) AS Delivered,
       ROUND(100.0 * COUNT(*) FILTER (WHERE s.Delivered_At::date <= s.Promised_Date) / COUNT(*), 1) AS OnTime_Pct
FROM Shipments s JOIN Carriers c ON c.Carrier_Id = s.Carrier_Id
WHERE s.Delivered_At IS NOT NULL
GROUP BY c.Name
ORDER BY OnTime_Pct DESC, Carrier""", True),
    Query("logistics_transit_by_mode", "How long does delivery take on average for each transport mode?",
          """SELECT lower(c.mode) AS mode, avg(s.delivered_at - s.shipped_at) AS avg_transit,
       round(extract(epoch FROM avg(s.delivered_at - s.shipped_at)) / 3600, 2) AS avg_hours
FROM shipments s JOIN carriers c USING (carrier_id)
WHERE s.delivered_at IS NOT NULL
GROUP BY 1
ORDER BY 1""", True),
    Query("logistics_monthly_status_2024", "How many shipments went out each month of 2024, by status?",
          """SELECT date_trunc('month', shipped_at) AS Month, lower(status) AS Status, count(*) AS Shipments
FROM shipments
WHERE shipped_at >= '2024-01-01' AND shipped_at < '2025-01-01'
GROUP BY Month, Status
ORDER BY Month, Status, Shipments""", True),
    Query("logistics_latest_deliveries", "Which 10 delivered shipments were the latest against their promise date?",
          """SELECT shipment_id, promised_date, delivered_at, delivered_at::date - promised_date AS days_late
FROM shipments
WHERE delivered_at IS NOT NULL
ORDER BY days_late DESC, shipment_id
LIMIT 10""", True),
    Query("logistics_weekly_volume_new_year", "How many shipments did we send per week around New Year 2024?",
          """SELECT date_trunc('week', shipped_at)::date AS week, count(*) AS shipments, sum(weight_kg) AS kg
FROM shipments
WHERE shipped_at BETWEEN '2023-12-04' AND '2024-01-28 23:59:59'
GROUP BY 1
ORDER BY 1""", True),
    Query("logistics_hour_of_day", "At what hour of the day do shipments leave the warehouse?",
          """SELECT extract(hour FROM shipped_at) AS hour, count(*) AS shipments
FROM shipments GROUP BY 1 ORDER BY 1""", True),
    Query("logistics_cost_per_kg", "What is the freight cost per kilogram for each carrier?",
          """SELECT c.carrier_id, c.name, round(sum(s.freight_cost) / nullif(sum(s.weight_kg), 0), 3) AS cost_per_kg
FROM carriers c LEFT JOIN shipments s ON s.carrier_id = c.carrier_id
GROUP BY c.carrier_id
ORDER BY cost_per_kg DESC NULLS LAST, c.carrier_id""", True),
    Query("logistics_heaviest_per_warehouse", "What is the heaviest shipment sent from each warehouse?",
          """SELECT DISTINCT ON (w.warehouse_id) w.warehouse_id, w.code, s.shipment_id, s.weight_kg
FROM warehouses w JOIN shipments s ON s.origin_warehouse_id = w.warehouse_id
ORDER BY w.warehouse_id, s.weight_kg DESC, s.shipment_id""", True),
    Query("logistics_undelivered_without_event", "Which tracked shipments never got a delivered event?",
          """SELECT s.shipment_id, s.status, s.shipped_at
FROM shipments s
WHERE s.shipment_id <= 1150
  AND NOT EXISTS (SELECT 1 FROM shipment_events e WHERE e.shipment_id = s.shipment_id AND e.event_type = 'delivered')
ORDER BY s.shipment_id""", True),
    Query("logistics_exceptions_by_carrier", "How many shipments per carrier had an exception during transit?",
          """SELECT c.name, count(*) AS shipments_with_exception
FROM shipments s JOIN carriers c USING (carrier_id)
WHERE EXISTS (SELECT 1 FROM shipment_events e WHERE e.shipment_id = s.shipment_id AND e.event_type = 'exception')
GROUP BY c.name
ORDER BY shipments_with_exception DESC, c.name""", True),
    Query("logistics_event_timeline", "Show the tracking timeline of shipments 1 to 5 with the time between events.",
          """SELECT shipment_id, row_number() OVER w AS step, event_type, event_time,
       event_time - lag(event_time) OVER w AS since_previous
FROM shipment_events
WHERE shipment_id BETWEEN 1 AND 5
WINDOW w AS (PARTITION BY shipment_id ORDER BY event_time, event_id)
ORDER BY shipment_id, step""", True),
    Query("logistics_longest_tracked", "Which 10 shipments took longest from first to last tracking event?",
          """SELECT shipment_id, min(event_time) AS first_event, max(event_time) - min(event_time) AS tracked_for
FROM shipment_events
GROUP BY shipment_id
ORDER BY 3 DESC, shipment_id
LIMIT 10""", True),
    Query("logistics_last_known_location", "Where was each of the first 20 shipments last seen?",
          """SELECT DISTINCT ON (shipment_id) shipment_id, location, event_time
FROM shipment_events
WHERE location IS NOT NULL AND shipment_id <= 20
ORDER BY shipment_id, event_time DESC, event_id DESC""", True),
    Query("logistics_subsecond_events",
          "Which tracking events for shipments up to 100 were recorded with sub-second timestamps?",
          """SELECT event_id, shipment_id, event_time, date_trunc('second', event_time) AS whole_second
FROM shipment_events
WHERE date_trunc('second', event_time) <> event_time AND shipment_id <= 100
ORDER BY event_id""", True),
    Query("logistics_leap_day_stock", "How much stock did each warehouse hold at the end of February 2024?",
          """SELECT w.code, sum(i.on_hand) AS on_hand, sum(i.reserved) AS reserved
FROM inventory_snapshots i JOIN warehouses w USING (warehouse_id)
WHERE i.snapshot_date = '2024-02-29'
GROUP BY w.code
ORDER BY on_hand DESC, w.code""", True),
    Query("logistics_overcommitted_warehouses",
          "Which warehouses had any SKU reserved beyond its stock at the end of 2024?",
          """SELECT warehouse_id, bool_or(reserved > on_hand) AS any_overcommitted,
       sum(greatest(on_hand - reserved, 0)) AS available, sum(on_hand - reserved) AS net
FROM inventory_snapshots
WHERE snapshot_date = '2024-12-31'
GROUP BY warehouse_id
HAVING bool_or(reserved > on_hand)
ORDER BY warehouse_id""", True),
    Query("logistics_stock_change_by_sku", "How did total stock of each SKU change month over month in 2024?",
          """WITH totals AS (
  SELECT sku, snapshot_date, sum(on_hand) AS on_hand FROM inventory_snapshots GROUP BY sku, snapshot_date
)
SELECT sku, snapshot_date, on_hand, on_hand - lag(on_hand) OVER (PARTITION BY sku ORDER BY snapshot_date) AS change
FROM totals
WHERE snapshot_date >= '2023-12-31'
ORDER BY sku, snapshot_date""", False),
    Query("logistics_peak_stock_wh1", "What was the peak stock so far of each SKU in warehouse 1, month by month?",
          """SELECT sku, snapshot_date, on_hand,
       max(on_hand) OVER (PARTITION BY sku ORDER BY snapshot_date
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS peak
FROM inventory_snapshots
WHERE warehouse_id = 1
ORDER BY sku, snapshot_date""", True),
    Query("logistics_stock_moving_avg", "What is the 3-month moving average of SKU-A stock across all warehouses?",
          """SELECT snapshot_date, sum(on_hand) AS on_hand,
       round(avg(sum(on_hand)) OVER (ORDER BY snapshot_date ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), 1) AS avg_3m
FROM inventory_snapshots
WHERE sku = 'SKU-A'
GROUP BY snapshot_date
ORDER BY snapshot_date""", True),
    Query("logistics_utilisation", "How full was each warehouse at the end of 2024?",
          """SELECT w.warehouse_id, w.capacity, sum(i.on_hand) AS units, sum(i.on_hand) * 100 / w.capacity AS pct_whole,
       round(sum(i.on_hand)::numeric / w.capacity * 100, 2) AS pct
FROM warehouses w JOIN inventory_snapshots i ON i.warehouse_id = w.warehouse_id AND i.snapshot_date = '2024-12-31'
GROUP BY w.warehouse_id
ORDER BY pct DESC, w.warehouse_id""", True),
    Query("logistics_warehouse_codes", "Which warehouse codes are not in the standard upper-case format?",
          """SELECT warehouse_id, code, upper(code) AS fixed_code, code ~ '^[A-Z]{3}[0-9]$' AS is_standard
FROM warehouses
WHERE code !~ '^[A-Z]{3}[0-9]$'
ORDER BY warehouse_id""", True),
    Query("logistics_tracking_code_years", "Do tracking-code years always match the shipping year?",
          """SELECT split_part(tracking_code, '-', 2)::int AS code_year,
       extract(year FROM shipped_at)::int AS ship_year,
       count(*) AS shipments, max(substring(tracking_code FROM 10)::int) AS max_seq
FROM shipments
GROUP BY 1, 2
ORDER BY 1, 2""", True),
    Query("logistics_destinations_clean",
          "How many shipments went to each destination city, with city names cleaned up?",
          """SELECT initcap(btrim(destination_city)) AS city, destination_country, count(*) AS shipments
FROM shipments
GROUP BY 1, 2
ORDER BY shipments DESC, city""", True),
    Query("logistics_carriers_idle_2024",
          "How many shipments did each carrier handle in 2024, including carriers with none?",
          """SELECT c.carrier_id, c.name, c.is_active, count(s.shipment_id) AS shipments_2024
FROM carriers c
LEFT JOIN shipments s ON s.carrier_id = c.carrier_id AND s.shipped_at >= '2024-01-01'
GROUP BY c.carrier_id, c.name, c.is_active
ORDER BY shipments_2024, c.carrier_id""", True),
    Query("logistics_city_presence", "For every city we know, how many warehouses and destination shipments are there?",
          """SELECT city, count(*) FILTER (WHERE kind = 'warehouse') AS warehouses,
       count(*) FILTER (WHERE kind = 'destination') AS deliveries
FROM (
  SELECT city, 'warehouse' AS kind FROM warehouses
  UNION ALL
  SELECT initcap(trim(destination_city)), 'destination' FROM shipments
) places
GROUP BY city
ORDER BY city""", True),
    Query("logistics_cities_without_warehouse", "Which destination cities have no warehouse?",
          """SELECT initcap(trim(destination_city)) AS city FROM shipments
EXCEPT
SELECT city FROM warehouses
ORDER BY city""", True),
    Query("logistics_warehouse_pairs", "Which pairs of warehouses are in the same country?",
          """SELECT w1.code AS first, w2.code AS second, w1.country
FROM warehouses w1 JOIN warehouses w2 ON w1.country = w2.country AND w1.warehouse_id < w2.warehouse_id
ORDER BY w1.country, w1.warehouse_id, w2.warehouse_id""", True),
    Query("logistics_transit_percentiles", "What are the median and 90th percentile transit hours for each priority?",
          """SELECT priority,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - shipped_at) / 3600) AS p50_hours,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - shipped_at) / 3600) AS p90_hours,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY delivered_at - shipped_at) AS p50_interval
FROM shipments
WHERE delivered_at IS NOT NULL
GROUP BY priority
ORDER BY priority""", True),
    Query("logistics_weight_spread", "How variable are shipment weights for each priority?",
          """SELECT priority, count(*) AS n, round(avg(weight_kg), 2) AS avg_kg, round(stddev_samp(weight_kg),
       2) AS sd_kg,
       min(weight_kg) AS min_kg, max(weight_kg) AS max_kg
FROM shipments GROUP BY priority ORDER BY priority""", True),
    Query("logistics_carriers_per_country", "Which carriers deliver to each destination country?",
          """SELECT s.destination_country, count(DISTINCT c.carrier_id) AS carriers,
       string_agg(DISTINCT c.name, ', ' ORDER BY c.name) AS carrier_names
FROM shipments s JOIN carriers c ON c.carrier_id = s.carrier_id
WHERE s.shipped_at >= '2024-10-01'
GROUP BY s.destination_country
ORDER BY s.destination_country""", True),
    Query("logistics_cost_cube", "Freight cost by priority and fragility, with every subtotal.",
          """SELECT priority, is_fragile, sum(freight_cost) AS cost, count(*) AS shipments
FROM shipments
GROUP BY CUBE (priority, is_fragile)
ORDER BY priority NULLS LAST, is_fragile NULLS LAST""", True),
    Query("logistics_fragile_express", "How many fragile express shipments did we send per year?",
          """SELECT extract(year FROM shipped_at) AS year, count(*) AS fragile_express
FROM shipments
WHERE is_fragile AND priority = 'express' AND NOT (status = 'lost')
GROUP BY 1
ORDER BY 1""", True),
    Query("logistics_billing_weights", "What billing weight applies to each distinct shipment weight?",
          """SELECT DISTINCT weight_kg, ceil(weight_kg) AS billed_kg, floor(weight_kg) AS floor_kg,
       round(weight_kg / 5) * 5 AS nearest_5kg, round(weight_kg, 1) AS one_decimal,
       CASE WHEN weight_kg <= 2 THEN 'parcel' WHEN weight_kg <= 50 THEN 'package' ELSE 'freight' END AS tier
FROM shipments
ORDER BY weight_kg""", True),
    Query("logistics_delay_rms", "What is the root-mean-square delivery delay in days per carrier mode?",
          """SELECT lower(c.mode) AS mode, round(sqrt(avg(power(s.delivered_at::date - s.promised_date, 2)))::numeric,
       3) AS rms_delay_days,
       max(abs(s.delivered_at::date - s.promised_date)) AS worst_deviation
FROM shipments s JOIN carriers c USING (carrier_id)
WHERE s.delivered_at IS NOT NULL
GROUP BY 1
ORDER BY 1""", True),
    Query("logistics_warehouse_age", "How old was each warehouse at the end of 2024?",
          """SELECT code, opened_on, age(date '2024-12-31', opened_on) AS age,
       date_part('year', age(date '2024-12-31', opened_on)) AS full_years
FROM warehouses
ORDER BY opened_on, code""", True),
    Query("logistics_grace_period",
          "How many delivered shipments arrived within the promise plus a 2-day grace period?",
          """SELECT priority, count(*) FILTER (WHERE delivered_at::date <= promised_date) AS on_time,
       count(*) FILTER (WHERE delivered_at::date <= promised_date + 2) AS within_grace, count(*) AS delivered
FROM shipments
WHERE delivered_at IS NOT NULL
GROUP BY priority
ORDER BY priority""", True),
    Query("logistics_leap_day_departures", "Show the shipments that left on leap day 2024 with readable timestamps.",
          """SELECT shipment_id, to_char(shipped_at, 'YYYY-MM-DD HH24:MI') AS shipped, to_char(shipped_at,
       'Dy DD Mon') AS label,
       to_char(promised_date, 'DD.MM.YYYY') AS promised
FROM shipments
WHERE shipped_at::date = date '2024-02-29'
ORDER BY shipped_at, shipment_id""", True),
    Query("logistics_first_week_2024",
          "How many shipments left each day in the first two weeks of 2024, including idle days?",
          """SELECT d::date AS day, count(s.shipment_id) AS shipments
FROM generate_series(timestamp '2024-01-01', timestamp '2024-01-14', interval '1 day') AS d
LEFT JOIN shipments s ON s.shipped_at >= d AND s.shipped_at < d + interval '1 day'
GROUP BY d
ORDER BY d""", True),
    Query("logistics_day_of_year", "On which day of the year did the year-boundary and leap-day shipments leave?",
          """SELECT shipment_id, shipped_at::date AS day,
       shipped_at::date - make_date(extract(year FROM shipped_at)::int, 1, 1) + 1 AS day_of_year,
       extract(doy FROM shipped_at) AS doy
FROM shipments
WHERE shipment_id % 97 = 0
ORDER BY shipment_id""", True),
    Query("logistics_cheapest_per_kg", "Which 5 heavy shipments (over 100 kg) were cheapest per kilogram?",
          """SELECT shipment_id, weight_kg, freight_cost, round(freight_cost / weight_kg, 4) AS per_kg
FROM shipments
WHERE weight_kg > 100
ORDER BY per_kg, shipment_id
FETCH FIRST 5 ROWS ONLY""", True),
    Query("logistics_dach_q1_2024", "How many shipments went to Germany, Austria or Switzerland in Q1 2024?",
          """SELECT destination_country, count(*) AS shipments, sum(freight_cost) AS cost
FROM shipments
WHERE destination_country IN ('DE', 'AT', 'CH') AND shipped_at::date BETWEEN '2024-01-01' AND '2024-03-31'
GROUP BY destination_country
ORDER BY destination_country""", True),
    Query("logistics_events_by_location",
          "How many tracking events happened at each location, unknown locations first?",
          """SELECT coalesce(location, 'unknown') AS location_label, location, count(*) AS events
FROM shipment_events
GROUP BY location
ORDER BY location NULLS FIRST""", True),
    Query("logistics_location_changes",
          "For shipments 1-30, which events happened at a different location than the one before?",
          """SELECT shipment_id, event_id, prev_location, location
FROM (
  SELECT shipment_id, event_id, location,
         lag(location) OVER (PARTITION BY shipment_id ORDER BY event_time, event_id) AS prev_location,
         row_number() OVER (PARTITION BY shipment_id ORDER BY event_time, event_id) AS step
  FROM shipment_events WHERE shipment_id <= 30
) e
WHERE step > 1 AND location IS DISTINCT FROM prev_location
ORDER BY shipment_id, event_id""", True),
    Query("logistics_delivery_counts_by_status", "Per status, how many shipments have a delivery time recorded?",
          """SELECT status, count(*) AS shipments, count(delivered_at) AS with_delivery_time,
       count(*) - count(delivered_at) AS without_delivery_time
FROM shipments GROUP BY status ORDER BY status""", True),
    Query("logistics_unix_times", "What are the Unix timestamps of the first five shipments?",
          """SELECT shipment_id, shipped_at, extract(epoch FROM shipped_at)::bigint AS unix_ts,
       to_timestamp(extract(epoch FROM shipped_at)) AS back_as_timestamptz
FROM shipments
ORDER BY shipment_id
LIMIT 5""", True),
    Query("logistics_interval_math",
          "How many delivered shipments took over 72 hours, and when would a 2-day-4-hour SLA end?",
          """SELECT priority,
       count(*) FILTER (WHERE delivered_at - shipped_at > interval '72 hours') AS over_72h,
       count(*) FILTER (WHERE delivered_at - shipped_at > interval '1 day' * 3) AS over_3_days,
       min(shipped_at + interval '2 days 4 hours') AS first_sla_end,
       sum(delivered_at - shipped_at) AS total_transit
FROM shipments
WHERE delivered_at IS NOT NULL
GROUP BY priority
ORDER BY priority""", True),
    Query("logistics_air_shipments", "How heavy are air shipments on average, per origin country?",
          """SELECT w.Country, COUNT(*) AS Shipments, CAST(AVG(s.Weight_Kg) AS NUMERIC(8,1)) AS Avg_Kg
FROM Shipments s JOIN Warehouses w ON w.Warehouse_Id = s.Origin_Warehouse_Id
WHERE s.Carrier_Id IN (SELECT Carrier_Id FROM Carriers WHERE lower(Mode) = 'air')
GROUP BY w.Country
ORDER BY Shipments DESC, w.Country""", True),
]
