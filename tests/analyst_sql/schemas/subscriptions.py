"""SaaS billing: plans, customer accounts, subscriptions, invoices and daily feature usage (2021-2024)."""

from __future__ import annotations

import calendar
import datetime as dt
import random

from tests.analyst_sql.model import BOOL, DATE, INT, MONEY, TEXT, TS, Query, Table, frame, maybe, money, rand_date

NAME = "subscriptions"

TIERS = [("free", 0), ("starter", 12), ("pro", 39), ("enterprise", 99)]
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent",
         "Vandelay", "Pied Piper", "Aperture", "Massive Dynamic", "Oscorp", "Gringotts", "Monarch", "Dunder",
         "Nakatomi"]
SUFFIXES = [" GmbH", " Inc.", " Inc", " Ltd", " AG", "", "", " Tech", " Labs"]
INDUSTRIES = ["Software", "Retail", "Healthcare", "Finance", "Manufacturing", "Education", None]
FEATURES = ["api_calls", "reports", "exports", "dashboards"]


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day-of-month `months` later, clamped to the month's end (Jan 31 + 1 month = Feb 29 in 2024)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _plans() -> list[tuple]:
    rows, pid = [], 1
    eras = (("v1", dt.date(2020, 1, 1), dt.date(2023, 3, 31)), ("v2", dt.date(2023, 4, 1), None))
    for version, launched, retired in eras:
        for tier, price in TIERS:
            for period in ("monthly", "annual"):
                amount = money(price if version == "v1" else price * 1.15) * (10 if period == "annual" else 1)
                rows.append((pid, f"{tier.title()} {period.title()} {version}", tier, period, money(amount),
                             {"free": 1, "starter": 3, "pro": 10, "enterprise": 50}[tier], tier != "enterprise",
                             launched, retired))
                pid += 1
    for name, tier, price in (("Legacy Pro", "pro", "29.95"), ("Nonprofit Pro", "pro", "19.45"),
                              ("Partner Starter", "starter", "0.00"), ("Enterprise Custom", "enterprise", "149.50")):
        rows.append((pid, name, tier, "monthly", money(price), 10, False, dt.date(2020, 1, 1), None))
        pid += 1
    return rows


def _accounts(rng: random.Random) -> list[tuple]:
    rows = []
    for aid in range(1, 251):
        name = f"{WORDS[aid % 20]}{'' if aid <= 20 else ' ' + str(aid)}{rng.choice(SUFFIXES)}"
        name = rng.choice([name] * 10 + [name.upper(), name.lower(), f" {name} "])
        created = dt.datetime.combine(rand_date(rng, dt.date(2020, 10, 1), dt.date(2024, 9, 30)),
                                      dt.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)))
        owner = maybe(rng, 0.8, rng.choice(["maria@vendor.example", "li.wei@vendor.example", "sam@partner.example",
                                            "ops@vendor.example"]))
        country = rng.choice(["DE", "US", "GB", "FR", "NL", "us"])
        rows.append((aid, name, rng.choice(INDUSTRIES), country, created, owner,
                     maybe(rng, 0.8, rng.choice([5, 12, 40, 40, 250, 1200])), aid % 13 == 0))
    return rows


def _subscriptions(rng: random.Random, accounts: list[tuple], plans: list[tuple]) -> list[tuple]:
    rows, sid = [], 1
    for account in accounts:
        if account[0] % 17 == 0:
            continue  # a few accounts never subscribe
        start = account[4].date() + dt.timedelta(days=rng.choice([0, 0, 3, 14, 45]))
        if account[0] in (31, 62):
            start = dt.date(2024, 1, 31)
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            if start > dt.date(2024, 12, 1):
                break
            era = [p for p in plans if p[7] <= start and (p[8] is None or p[8] >= start)]
            plan = rng.choice(era)
            months = rng.choice([12, 24, 36, 60] if plan[3] == "annual" else [2, 3, 6, 9, 12, 18, 60])
            end = add_months(start, months)
            ended = None if end > dt.date(2024, 12, 31) else end
            reason = None if ended is None else rng.choice(["price", "Price", "missing features", "switched plan",
                                                            "", None, "budget cuts "])
            rows.append((sid, account[0], plan[0], start, ended, rng.choice([1, 3, 5, 5, 10, 25]), rng.random() < 0.7,
                         reason))
            sid += 1
            if ended is None:
                break
            start = ended + dt.timedelta(days=rng.choice([0, 0, 1, 30]))
    return rows


def _invoices(rng: random.Random, subscriptions: list[tuple], plans: dict[int, tuple]) -> list[tuple]:
    rows = []
    for s in subscriptions:
        plan = plans[s[2]]
        step = 12 if plan[3] == "annual" else 1
        last = s[4] or dt.date(2024, 12, 31)
        n = 0
        while (issued := add_months(s[3], n * step)) < last and issued <= dt.date(2024, 12, 31):
            n += 1
            amount = money(plan[4] * s[5])
            if amount == 0:
                continue
            due = issued + dt.timedelta(days=14 if step == 1 else 30)
            status = rng.choice(["paid"] * 12 + ["open", "void", "uncollectible"])
            if due > dt.date(2024, 12, 31) and status == "paid" and rng.random() < 0.6:
                status = "open"
            paid = None if status != "paid" else dt.datetime.combine(
                issued + dt.timedelta(days=rng.choice([0, 1, 3, 7, 14, 20, 45])),
                dt.time(rng.randint(0, 23), rng.randint(0, 59), 0))
            rows.append((len(rows) + 1, f"INV-{issued.year}-{len(rows) + 1:06d}", s[0], issued, due, amount,
                         money(amount * money("0.19")), status, paid, rng.choice(["EUR"] * 6 + ["USD", "USD", "eur"])))
    return rows


def _usage(rng: random.Random, subscriptions: list[tuple]) -> list[tuple]:
    keys = set()
    active = [s for s in subscriptions if (s[4] or dt.date(2024, 12, 31)) >= dt.date(2024, 7, 1)]
    while len(keys) < 2600:
        s = rng.choice(active)
        day = rand_date(rng, max(s[3], dt.date(2024, 7, 1)), s[4] or dt.date(2024, 12, 31))
        keys.add((s[1], day, rng.choice(FEATURES)))
    return [(a, d, f, rng.choice([1, 2, 5, 10, 10, 40, 250])) for a, d, f in sorted(keys)]


def _tables() -> dict[str, Table]:
    rng = random.Random(4004)
    plans, accounts = _plans(), _accounts(rng)
    subscriptions = _subscriptions(rng, accounts, plans)
    invoices = _invoices(rng, subscriptions, {p[0]: p for p in plans})
    usage = _usage(rng, subscriptions)
    return {
        "plans": Table(
            "CREATE TABLE plans (plan_id integer PRIMARY KEY, name text NOT NULL, tier text NOT NULL, "
            "billing_period text NOT NULL, price numeric(10,2) NOT NULL, seats_included integer NOT NULL, "
            "is_public boolean NOT NULL, launched_on date NOT NULL, retired_on date)",
            frame([("plan_id", INT), ("name", TEXT), ("tier", TEXT), ("billing_period", TEXT), ("price", MONEY),
                   ("seats_included", INT), ("is_public", BOOL), ("launched_on", DATE), ("retired_on", DATE)], plans)),
        "accounts": Table(
            "CREATE TABLE accounts (account_id integer PRIMARY KEY, company_name text NOT NULL, industry text, "
            "country text NOT NULL, created_at timestamp NOT NULL, sales_owner text, employee_count integer, "
            "is_partner boolean NOT NULL)",
            frame([("account_id", INT), ("company_name", TEXT), ("industry", TEXT), ("country", TEXT),
                   ("created_at", TS), ("sales_owner", TEXT), ("employee_count", INT), ("is_partner", BOOL)],
                  accounts)),
        "subscriptions": Table(
            "CREATE TABLE subscriptions (subscription_id integer PRIMARY KEY, "
            "account_id integer NOT NULL REFERENCES accounts, plan_id integer NOT NULL REFERENCES plans, "
            "started_on date NOT NULL, ended_on date, seats integer NOT NULL, auto_renew boolean NOT NULL, "
            "cancel_reason text)",
            frame([("subscription_id", INT), ("account_id", INT), ("plan_id", INT), ("started_on", DATE),
                   ("ended_on", DATE), ("seats", INT), ("auto_renew", BOOL), ("cancel_reason", TEXT)], subscriptions)),
        "invoices": Table(
            "CREATE TABLE invoices (invoice_id integer PRIMARY KEY, invoice_number text NOT NULL UNIQUE, "
            "subscription_id integer NOT NULL REFERENCES subscriptions, issued_on date NOT NULL, due_on date NOT NULL, "
            "amount numeric(10,2) NOT NULL, tax numeric(10,2) NOT NULL, status text NOT NULL, paid_at timestamp, "
            "currency text NOT NULL)",
            frame([("invoice_id", INT), ("invoice_number", TEXT), ("subscription_id", INT), ("issued_on", DATE),
                   ("due_on", DATE), ("amount", MONEY), ("tax", MONEY), ("status", TEXT), ("paid_at", TS),
                   ("currency", TEXT)], invoices)),
        "feature_usage": Table(
            "CREATE TABLE feature_usage (account_id integer NOT NULL REFERENCES accounts, usage_date date NOT NULL, "
            "feature text NOT NULL, quantity integer NOT NULL, PRIMARY KEY (account_id, usage_date, feature))",
            frame([("account_id", INT), ("usage_date", DATE), ("feature", TEXT), ("quantity", INT)], usage)),
    }


TABLES = _tables()

QUERIES: list[Query] = [
    Query("subs_mrr_2024", "What was monthly recurring revenue at the start of each month of 2024?",
          """SELECT m::date AS month, count(s.subscription_id) AS active_subscriptions,
       round(sum(CASE WHEN p.billing_period = 'annual' THEN p.price / 12 ELSE p.price END * s.seats), 2) AS mrr
FROM generate_series(date '2024-01-01', date '2024-12-01', interval '1 month') AS m
LEFT JOIN subscriptions s ON s.started_on <= m AND (s.ended_on IS NULL OR s.ended_on > m)
LEFT JOIN plans p ON p.plan_id = s.plan_id
GROUP BY m
ORDER BY m""", True),
    Query("subs_paid_revenue_by_quarter", "How much invoiced revenue was actually paid in each quarter?",
          """SELECT to_char(issued_on, 'YYYY-"Q"Q') AS Quarter, SUM(Amount) AS Paid_Revenue, COUNT(*) AS Invoices
FROM Invoices
WHERE Status = 'paid'
GROUP BY Quarter
ORDER BY Quarter""", True),
    Query("subs_churn_by_month", "How many subscriptions ended in each month of 2023 and 2024?",
          """SELECT date_trunc('month', ended_on)::date AS month, count(*) AS churned
FROM subscriptions
WHERE ended_on BETWEEN '2023-01-01' AND '2024-12-31'
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_cancel_reasons", "Why do subscriptions end? Group the cancellation reasons.",
          """SELECT coalesce(nullif(lower(trim(cancel_reason)), ''), 'unknown') AS reason, count(*) AS subscriptions
FROM subscriptions
WHERE ended_on IS NOT NULL
GROUP BY 1
ORDER BY subscriptions DESC, reason""", True),
    Query("subs_lifetime_by_tier", "How many days do ended subscriptions last on average, per tier?",
          """SELECT p.tier, count(*) AS ended, round(avg(s.ended_on - s.started_on), 1) AS avg_days,
       min(s.ended_on - s.started_on) AS shortest, max(s.ended_on - s.started_on) AS longest
FROM subscriptions s JOIN plans p USING (plan_id)
WHERE s.ended_on IS NOT NULL
GROUP BY p.tier
ORDER BY avg_days DESC, p.tier""", True),
    Query("subs_multi_subscription_accounts", "Which accounts have had three or more subscriptions?",
          """SELECT account_id, count(*) AS subscriptions, min(started_on) AS first_start, max(started_on) AS last_start
FROM subscriptions
GROUP BY account_id
HAVING count(*) >= 3
ORDER BY subscriptions DESC, account_id""", True),
    Query("subs_top_accounts_billed", "Which 10 accounts have been invoiced the most, and where are they?",
          """SELECT a.account_id, a.company_name, a.country, sum(i.amount) AS billed, count(i.invoice_id) AS invoices
FROM accounts a
JOIN subscriptions s USING (account_id)
JOIN invoices i USING (subscription_id)
GROUP BY a.account_id
ORDER BY billed DESC, a.account_id
LIMIT 10""", True),
    Query("subs_receivables_aging", "How much is outstanding at the end of 2024, by how overdue it is?",
          """SELECT CASE WHEN due_on >= date '2024-12-31' THEN '0 not due'
            WHEN date '2024-12-31' - due_on <= 30 THEN '1-30'
            WHEN date '2024-12-31' - due_on <= 90 THEN '31-90'
            ELSE '90+' END AS bucket,
       count(*) AS invoices, sum(amount + tax) AS outstanding
FROM invoices
WHERE status = 'open'
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_days_to_pay", "How long do customers take to pay, by currency?",
          """SELECT upper(currency) AS currency, round(avg(paid_at::date - issued_on), 2) AS avg_days,
       max(paid_at - issued_on::timestamp) AS slowest, min(paid_at - issued_on) AS fastest
FROM invoices
WHERE paid_at IS NOT NULL
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_late_payments", "What share of paid invoices were paid after the due date, per year?",
          """SELECT extract(year FROM issued_on) AS year, count(*) AS paid,
       count(*) FILTER (WHERE paid_at::date > due_on) AS late,
       round(100.0 * count(*) FILTER (WHERE paid_at::date > due_on) / count(*), 2) AS late_pct
FROM invoices
WHERE status = 'paid'
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_tax_check", "Does the stored tax always equal 19% of the amount, rounded to cents?",
          """SELECT amount, tax, round(amount * 0.19, 2) AS expected_tax, tax = round(amount * 0.19, 2) AS matches,
       count(*) AS invoices
FROM invoices
GROUP BY amount, tax
ORDER BY amount, tax""", True),
    Query("subs_invoice_numbers", "Show the parts of the first 12 invoice numbers.",
          """SELECT invoice_number, split_part(invoice_number, '-', 2)::int AS year, right(invoice_number,
       6)::int AS seq,
       'INV/' || lpad((right(invoice_number, 6)::int % 1000)::text, 4, '0') AS short_number,
       strpos(invoice_number, '-') AS first_dash
FROM invoices
ORDER BY invoice_id
LIMIT 12""", True),
    Query("subs_revenue_by_currency", "How much have we invoiced in each currency (codes are case-insensitive)?",
          """SELECT upper(currency) AS currency, sum(amount) AS amount, sum(tax) AS tax, count(*) AS invoices,
       count(*) FILTER (WHERE currency <> upper(currency)) AS lower_case_codes
FROM invoices
GROUP BY upper(currency)
ORDER BY amount DESC, currency""", True),
    Query("subs_plan_changes", "For accounts that changed plans, what did they move from and to?",
          """WITH ordered AS (
  SELECT s.account_id, s.started_on, p.name AS plan,
         lag(p.name) OVER (PARTITION BY s.account_id ORDER BY s.started_on, s.subscription_id) AS previous_plan
  FROM subscriptions s JOIN plans p ON p.plan_id = s.plan_id
)
SELECT account_id, started_on, previous_plan, plan
FROM ordered
WHERE previous_plan IS NOT NULL AND previous_plan <> plan
ORDER BY account_id, started_on""", True),
    Query("subs_first_subscription", "What was each account's first plan?",
          """SELECT DISTINCT ON (s.account_id) s.account_id, s.started_on, p.tier, p.billing_period
FROM subscriptions s JOIN plans p USING (plan_id)
ORDER BY s.account_id, s.started_on, s.subscription_id""", True),
    Query("subs_never_subscribed", "Which accounts have never had a subscription?",
          """SELECT a.account_id, a.company_name, a.created_at
FROM accounts a
WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = a.account_id)
ORDER BY a.account_id""", True),
    Query("subs_usage_without_active_sub",
          "Which accounts used the product in H2 2024 but had no active subscription on 1 July?",
          """SELECT DISTINCT u.account_id
FROM feature_usage u
WHERE u.usage_date >= '2024-07-01'
  AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = u.account_id
                  AND s.started_on <= '2024-07-01' AND (s.ended_on IS NULL OR s.ended_on > '2024-07-01'))
ORDER BY u.account_id""", True),
    Query("subs_monthly_active_accounts", "How many accounts were active (used any feature) each month of H2 2024?",
          """SELECT date_trunc('month', usage_date)::date AS month, count(DISTINCT account_id) AS active_accounts,
       sum(quantity) AS total_quantity
FROM feature_usage
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_feature_share", "What share of all usage does each feature account for?",
          """SELECT feature, sum(quantity) AS quantity,
       round(100.0 * sum(quantity) / sum(sum(quantity)) OVER (), 2) AS share_pct
FROM feature_usage
GROUP BY feature
ORDER BY quantity DESC, feature""", True),
    Query("subs_top_feature_per_account",
          "What is the most used feature of each of the first 15 accounts that use the product?",
          """SELECT account_id, feature, total
FROM (
  SELECT account_id, feature, sum(quantity) AS total,
         row_number() OVER (PARTITION BY account_id ORDER BY sum(quantity) DESC, feature) AS rn
  FROM feature_usage
  GROUP BY account_id, feature
) ranked
WHERE rn = 1
ORDER BY account_id
LIMIT 15""", True),
    Query("subs_weekly_usage_q4", "What was weekly usage in Q4 2024, with a 4-week moving average?",
          """SELECT week, quantity,
       round(avg(quantity) OVER (ORDER BY week ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), 1) AS avg_4w
FROM (
  SELECT date_trunc('week', usage_date)::date AS week, sum(quantity) AS quantity
  FROM feature_usage
  WHERE usage_date >= '2024-10-01'
  GROUP BY 1
) w
ORDER BY week""", True),
    Query("subs_top_usage_per_country", "Who are the two heaviest product users in each country?",
          """WITH totals AS (
  SELECT upper(a.country) AS country, a.account_id, sum(u.quantity) AS quantity
  FROM feature_usage u JOIN accounts a USING (account_id)
  GROUP BY 1, 2
), ranked AS (
  SELECT *, dense_rank() OVER (PARTITION BY country ORDER BY quantity DESC) AS rnk FROM totals
)
SELECT country, account_id, quantity, rnk FROM ranked WHERE rnk <= 2 ORDER BY country, rnk, account_id""", True),
    Query("subs_invoice_deciles", "Split invoices into 10 equal groups by amount: what range does each cover?",
          """SELECT decile, count(*) AS invoices, min(amount) AS low, max(amount) AS high
FROM (SELECT amount, ntile(10) OVER (ORDER BY amount, invoice_id) AS decile FROM invoices) d
GROUP BY decile
ORDER BY decile""", True),
    Query("subs_median_invoice_by_tier", "What is the median invoice amount per plan tier?",
          """SELECT p.tier, percentile_cont(0.5) WITHIN GROUP (ORDER BY i.amount) AS median_amount,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY i.amount) AS median_actual, count(*) AS invoices
FROM invoices i
JOIN subscriptions s ON s.subscription_id = i.subscription_id
JOIN plans p ON p.plan_id = s.plan_id
GROUP BY p.tier
ORDER BY p.tier""", True),
    Query("subs_plan_history_lists", "List the plans each account with 3+ subscriptions has been on, in order.",
          """SELECT s.account_id, string_agg(p.name, ' -> ' ORDER BY s.started_on, s.subscription_id) AS plan_path
FROM subscriptions s JOIN plans p USING (plan_id)
GROUP BY s.account_id
HAVING count(*) >= 3
ORDER BY s.account_id""", True),
    Query("subs_auto_renew_accounts", "Per country, do all / any subscriptions auto-renew?",
          """SELECT upper(a.country) AS country, bool_and(s.auto_renew) AS all_auto_renew,
       bool_or(s.auto_renew) AS any_auto_renew,
       count(*) FILTER (WHERE NOT s.auto_renew) AS manual
FROM subscriptions s JOIN accounts a USING (account_id)
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_revenue_rollup", "Invoiced revenue by year and tier, with yearly subtotals and a grand total.",
          """SELECT extract(year FROM i.issued_on)::int AS year, p.tier, sum(i.amount) AS revenue
FROM invoices i JOIN subscriptions s USING (subscription_id) JOIN plans p USING (plan_id)
WHERE i.status <> 'void'
GROUP BY ROLLUP (1, 2)
ORDER BY 1 NULLS LAST, 2 NULLS LAST""", True),
    Query("subs_monthly_and_annual", "Which accounts have had both monthly and annual subscriptions?",
          """SELECT s.account_id FROM subscriptions s JOIN plans p USING (plan_id) WHERE p.billing_period = 'monthly'
INTERSECT
SELECT s.account_id FROM subscriptions s JOIN plans p USING (plan_id) WHERE p.billing_period = 'annual'
ORDER BY account_id""", True),
    Query("subs_account_timeline", "Show the full billing timeline of account 7.",
          """SELECT started_on AS day, 'subscription started' AS event, NULL::numeric AS amount
FROM subscriptions WHERE account_id = 7
UNION ALL
SELECT ended_on, 'subscription ended', NULL FROM subscriptions WHERE account_id = 7 AND ended_on IS NOT NULL
UNION ALL
SELECT i.issued_on, 'invoice ' || i.status, i.amount
FROM invoices i JOIN subscriptions s USING (subscription_id) WHERE s.account_id = 7
ORDER BY day, event, amount""", True),
    Query("subs_above_average_invoices",
          "Which accounts have the most invoices above their own average invoice amount?",
          """SELECT s.account_id, count(*) AS above_average
FROM invoices i JOIN subscriptions s ON s.subscription_id = i.subscription_id
WHERE i.amount > (SELECT avg(i2.amount)
                  FROM invoices i2 JOIN subscriptions s2 ON s2.subscription_id = i2.subscription_id
                  WHERE s2.account_id = s.account_id)
GROUP BY s.account_id
ORDER BY above_average DESC, s.account_id
LIMIT 10""", True),
    Query("subs_time_to_subscribe",
          "How long after signing up did the first 20 accounts start their first subscription?",
          """SELECT a.account_id, a.created_at, min(s.started_on) AS first_start,
       age(min(s.started_on), a.created_at::date) AS waited, min(s.started_on) - a.created_at AS waited_exact
FROM accounts a JOIN subscriptions s USING (account_id)
WHERE a.account_id <= 20
GROUP BY a.account_id
ORDER BY a.account_id""", True),
    Query("subs_company_names_clean", "What are the first 25 company names without legal suffixes or stray spaces?",
          r"""SELECT account_id, company_name,
       initcap(trim(regexp_replace(trim(company_name), '\s+(gmbh|inc\.?|ltd|ag)$', '', 'i'))) AS clean_name
FROM accounts
ORDER BY account_id
LIMIT 25""", True),
    Query("subs_tech_companies", "Which companies have 'tech' or 'labs' in their name but are not partners?",
          """SELECT account_id, company_name FROM accounts
WHERE (company_name ILIKE '%tech%' OR lower(company_name) LIKE '%labs%') AND NOT is_partner
ORDER BY account_id""", True),
    Query("subs_account_labels", "Build a one-line label for the first 15 accounts.",
          """SELECT account_id, concat_ws(' | ', trim(company_name), industry, upper(country)) AS label,
       trim(company_name) || ' (' || industry || ')' AS with_industry
FROM accounts
ORDER BY account_id
LIMIT 15""", True),
    Query("subs_sales_owner_domains", "How many accounts does each sales-owner email domain look after?",
          """SELECT substring(sales_owner FROM position('@' IN sales_owner) + 1) AS domain, count(*) AS accounts
FROM accounts
GROUP BY 1
ORDER BY accounts DESC, domain NULLS LAST""", True),
    Query("subs_missing_industry", "Which accounts have no industry recorded (largest first, unknown size first)?",
          """SELECT account_id, company_name, employee_count
FROM accounts
WHERE industry IS NULL
ORDER BY employee_count DESC NULLS FIRST, account_id""", True),
    Query("subs_seat_changes", "When an account renewed, did the seat count change from the previous subscription?",
          """SELECT account_id, subscription_id, prev_seats, seats
FROM (
  SELECT account_id, subscription_id, seats,
         lag(seats) OVER (PARTITION BY account_id ORDER BY started_on, subscription_id) AS prev_seats
  FROM subscriptions
) x
WHERE prev_seats IS NOT NULL AND seats IS DISTINCT FROM prev_seats
ORDER BY account_id, subscription_id""", True),
    Query("subs_seat_packs", "How many seat packs does each active subscription need?",
          """SELECT s.subscription_id, s.seats, p.seats_included, s.seats / p.seats_included AS full_packs,
       ceil(s.seats::numeric / p.seats_included) AS packs_needed, s.seats % p.seats_included AS leftover
FROM subscriptions s JOIN plans p USING (plan_id)
WHERE s.ended_on IS NULL AND p.tier <> 'free'
ORDER BY s.subscription_id""", True),
    Query("subs_average_invoice", "What is the average invoice amount, computed a few ways?",
          """SELECT sum(amount)::numeric / count(*) AS exact_avg, round(avg(amount), 2) AS avg_2dp,
       CAST(avg(amount) AS DECIMAL(10,1)) AS avg_1dp, sum(amount) / count(*) AS numeric_div,
       count(*) / 7 AS weeks_of_invoices
FROM invoices
WHERE status <> 'void'""", False),
    Query("subs_month_end_billing", "When are the next invoices due for subscriptions billed on a month-end day?",
          """SELECT invoice_id, issued_on, issued_on + interval '1 month' AS next_issue,
       (issued_on + interval '1 month')::date AS next_issue_day, issued_on - interval '1 day' AS day_before
FROM invoices
WHERE extract(day FROM issued_on + 1) = 1 AND issued_on BETWEEN '2024-01-01' AND '2024-03-31'
ORDER BY issued_on, invoice_id""", True),
    Query("subs_invoice_year_start", "For each invoice-number year, what is the year start and how many invoices?",
          """SELECT to_date(split_part(invoice_number, '-', 2) || '-01-01', 'YYYY-MM-DD') AS year_start,
       count(*) AS invoices
FROM invoices
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_payments_by_weekday", "On which weekdays do payments arrive?",
          """SELECT extract(dow FROM paid_at) AS dow, to_char(paid_at, 'Dy') AS day, count(*) AS payments
FROM invoices
WHERE paid_at IS NOT NULL
GROUP BY 1, 2
ORDER BY 1""", True),
    Query("subs_invoice_page", "Show invoices 41-50 by issue date.",
          """SELECT invoice_id, invoice_number, issued_on, amount
FROM invoices
ORDER BY issued_on, invoice_id
LIMIT 10 OFFSET 40""", True),
    Query("subs_problem_invoices_2024", "Which invoices from H1 2024 are open or uncollectible?",
          """SELECT invoice_id, issued_on, status, amount
FROM invoices
WHERE status IN ('open', 'uncollectible') AND issued_on BETWEEN '2024-01-01' AND '2024-06-30'
ORDER BY issued_on, invoice_id""", True),
    Query("subs_cohort_revenue", "How much did accounts created in each year pay in 2023 and in 2024?",
          """SELECT extract(year FROM a.created_at)::int AS cohort,
       count(DISTINCT a.account_id) AS accounts,
       coalesce(sum(i.amount) FILTER (WHERE extract(year FROM i.issued_on) = 2023), 0) AS revenue_2023,
       coalesce(sum(i.amount) FILTER (WHERE extract(year FROM i.issued_on) = 2024), 0) AS revenue_2024
FROM accounts a
LEFT JOIN subscriptions s ON s.account_id = a.account_id
LEFT JOIN invoices i ON i.subscription_id = s.subscription_id AND i.status = 'paid'
GROUP BY 1
ORDER BY 1""", True),
    Query("subs_revenue_cagr", "What was the compound annual growth rate of invoiced revenue from 2022 to 2024?",
          """WITH yearly AS (
  SELECT extract(year FROM issued_on) AS year, sum(amount) AS revenue FROM invoices GROUP BY 1
)
SELECT (SELECT revenue FROM yearly WHERE year = 2022) AS revenue_2022,
       (SELECT revenue FROM yearly WHERE year = 2024) AS revenue_2024,
       round(100 * (power((SELECT revenue FROM yearly WHERE year = 2024)
                          / (SELECT revenue FROM yearly WHERE year = 2022),
                          0.5) - 1), 2) AS cagr_pct""", False),
    Query("subs_partner_accounts", "How many subscriptions and seats do partner accounts hold per plan tier?",
          """SELECT p.Tier, COUNT(*) AS Subscriptions, SUM(s.Seats) AS Seats
FROM Subscriptions s JOIN Plans p ON p.Plan_Id = s.Plan_Id
WHERE s.Account_Id IN (SELECT Account_Id FROM Accounts WHERE Is_Partner)
GROUP BY p.Tier
ORDER BY Seats DESC, p.Tier""", True),
]
