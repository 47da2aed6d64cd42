"""Retail sales: customers, sales reps, products, orders and their line items (2021-2024)."""

from __future__ import annotations

import datetime as dt
import random

from tests.analyst_sql.model import (
    BOOL,
    DATE,
    INT,
    MONEY,
    TEXT,
    TS,
    Query,
    Table,
    frame,
    maybe,
    money,
    rand_date,
    rand_time,
)

NAME = "sales"

FIRST = ["Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
         "Mona", "Nils", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Meyer", "Smith", "Garcia", "Rossi", "Novak", "Dubois", "Khan", "Silva", "Berg", "Lopez"]
CITIES = [("Berlin", "DE"), ("Munich", "DE"), ("Paris", "FR"), ("Lyon", "FR"), ("New York", "US"),
          ("San Francisco", "US"), ("London", "UK"), ("Madrid", "ES")]
DOMAINS = ["gmail.com", "example.com", "outlook.com", "corp.example.org"]
CATEGORIES = {"Electronics": "EL", "Home": "HO", "Outdoor": "OU", "Toys": "TO", "Office": "OF"}
PRODUCT_WORDS = ["Pro", "Mini", "Max", "Basic", "Ultra", "Eco", "Smart", "Classic"]
CHANNELS = ["web"] * 9 + ["Web", "WEB", "store", "store", "store", "Store", "mobile app", "mobile app"]
STATUSES = ["completed"] * 12 + ["shipped"] * 3 + ["cancelled", "returned", "pending"]
FEES = ["0.00"] * 6 + ["2.25", "3.45", "4.95", "4.95", "5.55", "7.50", "9.99", "12.35", "0.05", "6.65"]
START, END = dt.date(2021, 1, 1), dt.date(2024, 12, 31)


def _reps(rng: random.Random) -> list[tuple]:
    regions = ["North", "South", "East", "West"]
    rows = []
    for rep_id in range(1, 21):
        region = regions[(rep_id - 1) % 4]
        manager = None if rep_id <= 4 else (rep_id - 1) % 4 + 1
        quota = None if rep_id in (7, 15) else money([50000, 50000, 60000, 75000, 42500.5][rep_id % 5])
        name = f"{FIRST[(rep_id * 7) % 20]} {LAST[rep_id % 10]}"
        rows.append((rep_id, name, region, manager, rand_date(rng, dt.date(2015, 1, 1), dt.date(2022, 6, 30)), quota))
    return rows


def _customers(rng: random.Random) -> list[tuple]:
    rows = []
    for cid in range(1, 151):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, country = rng.choice(CITIES)
        spelling = rng.random()
        if spelling < 0.06:
            city = city.lower()
        elif spelling < 0.10:
            city = city.upper()
        elif spelling < 0.13:
            city = f" {city}  "
        email = maybe(rng, 0.88, f"{first.lower()}.{last.lower()}{cid}@{rng.choice(DOMAINS)}")
        if email and rng.random() < 0.1:
            email = email.upper()
        phone = rng.choice([None, "", f"+49 30 {rng.randint(1000000, 9999999)}",
                            f"(555) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                            f"0{rng.randint(10**8, 10**9)}"])
        signup = rand_date(rng, dt.date(2020, 6, 1), dt.date(2024, 6, 30))
        if cid in (29, 60, 61):
            signup = dt.date(2024, 2, 29)
        segment = rng.choice(["Consumer", "Consumer", "Corporate", "Small Business"])
        referred = maybe(rng, 0.3, rng.randint(1, cid - 1)) if cid > 5 else None
        rows.append((cid, f"{first} {last}", email, phone, city, country, segment, signup, rng.random() < 0.85,
                     referred))
    return rows


def _products(rng: random.Random) -> list[tuple]:
    rows = []
    prices = ["9.99", "19.99", "19.99", "24.50", "49.00", "49.00", "99.95", "149.00", "5.25", "12.45", "299.00"]
    for pid in range(1, 41):
        category = list(CATEGORIES)[(pid - 1) % 5]
        name = f"{PRODUCT_WORDS[(pid - 1) // 5]} {category} {['Kit', 'Set', 'Pack', 'Box', 'Unit'][pid % 5]}"
        price = money(rng.choice(prices))
        cost = money(price * money(rng.choice(["0.40", "0.55", "0.62", "0.75", "1.05"])))
        subcategory = maybe(rng, 0.75, rng.choice(["Premium", "Standard", "budget", "Refurbished"]))
        rows.append((pid, f"{CATEGORIES[category]}-{1000 + pid * 7}", name, category, subcategory, price, cost,
                     rand_date(rng, dt.date(2019, 1, 1), dt.date(2023, 6, 30)), pid % 9 == 0))
    return rows


def _orders(rng: random.Random, customers: list[tuple]) -> list[tuple]:
    buyers = [c for c in customers if c[0] <= 140]
    weights = [1 + (c[0] % 7 == 0) * 4 + (c[0] % 11 == 0) * 2 for c in buyers]
    special = [dt.date(2024, 2, 29)] * 6 + [dt.date(2023, 12, 31)] * 4 + [dt.date(2024, 1, 1)] * 4
    rows = []
    for i in range(1200):
        customer = rng.choices(buyers, weights)[0]
        day = special[i] if i < len(special) else rand_date(rng, START, END)
        day = max(day, customer[7])
        status = rng.choice(STATUSES)
        lag = dt.timedelta(days=rng.choice([0, 1, 1, 2, 3, 5, 9]))
        shipped = None if status in ("cancelled", "pending") else day + lag
        rep = maybe(rng, 0.7, rng.randint(1, 20))
        code = maybe(rng, 0.25, rng.choice(["SPRING10", "spring10", "WELCOME", "VIP20", "BF2023"]))
        rows.append((1000 + i, customer[0], day, rand_time(rng, day, 6, 23), status, rng.choice(CHANNELS), code,
                     money(rng.choice(FEES)), rep, shipped))
    return rows


def _items(rng: random.Random, orders: list[tuple], products: list[tuple]) -> list[tuple]:
    rows = []
    for order in orders:
        for line in range(1, rng.choice([1, 1, 2, 2, 3, 3, 4]) + 1):
            product = rng.choice(products[:37])  # products 38-40 were never sold
            price = product[5] if rng.random() < 0.8 else money(product[5] * money("0.9"))
            rows.append((order[0], line, product[0], rng.choice([1, 1, 1, 2, 2, 3, 5, 10]), price,
                         rng.choice([0, 0, 0, 5, 10, 15, 25])))
    return rows


def _tables() -> dict[str, Table]:
    rng = random.Random(1001)
    reps, customers, products = _reps(rng), _customers(rng), _products(rng)
    orders = _orders(rng, customers)
    items = _items(rng, orders, products)
    return {
        "sales_reps": Table(
            "CREATE TABLE sales_reps (rep_id integer PRIMARY KEY, full_name text NOT NULL, region text NOT NULL, "
            "manager_id integer REFERENCES sales_reps (rep_id), hired_on date NOT NULL, quota numeric(10,2))",
            frame([("rep_id", INT), ("full_name", TEXT), ("region", TEXT), ("manager_id", INT), ("hired_on", DATE),
                   ("quota", MONEY)], reps)),
        "customers": Table(
            "CREATE TABLE customers (customer_id integer PRIMARY KEY, name text NOT NULL, email text, phone text, "
            "city text NOT NULL, country text NOT NULL, segment text NOT NULL, signup_date date NOT NULL, "
            "is_active boolean NOT NULL, referred_by integer REFERENCES customers (customer_id))",
            frame([("customer_id", INT), ("name", TEXT), ("email", TEXT), ("phone", TEXT), ("city", TEXT),
                   ("country", TEXT), ("segment", TEXT), ("signup_date", DATE), ("is_active", BOOL),
                   ("referred_by", INT)], customers)),
        "products": Table(
            "CREATE TABLE products (product_id integer PRIMARY KEY, sku text NOT NULL UNIQUE, name text NOT NULL, "
            "category text NOT NULL, subcategory text, unit_price numeric(10,2) NOT NULL, cost numeric(10,2) NOT NULL, "
            "launched_on date NOT NULL, discontinued boolean NOT NULL)",
            frame([("product_id", INT), ("sku", TEXT), ("name", TEXT), ("category", TEXT), ("subcategory", TEXT),
                   ("unit_price", MONEY), ("cost", MONEY), ("launched_on", DATE), ("discontinued", BOOL)], products)),
        "orders": Table(
            "CREATE TABLE orders (order_id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers, "
            "order_date date NOT NULL, ordered_at timestamp NOT NULL, status text NOT NULL, channel text NOT NULL, "
            "discount_code text, shipping_fee numeric(10,2) NOT NULL, sales_rep_id integer REFERENCES sales_reps, "
            "shipped_date date)",
            frame([("order_id", INT), ("customer_id", INT), ("order_date", DATE), ("ordered_at", TS),
                   ("status", TEXT), ("channel", TEXT), ("discount_code", TEXT), ("shipping_fee", MONEY),
                   ("sales_rep_id", INT), ("shipped_date", DATE)], orders)),
        "order_items": Table(
            "CREATE TABLE order_items (order_id integer NOT NULL REFERENCES orders, line_no integer NOT NULL, "
            "product_id integer NOT NULL REFERENCES products, quantity integer NOT NULL, "
            "unit_price numeric(10,2) NOT NULL, discount_pct integer NOT NULL, PRIMARY KEY (order_id, line_no))",
            frame([("order_id", INT), ("line_no", INT), ("product_id", INT), ("quantity", INT),
                   ("unit_price", MONEY), ("discount_pct", INT)], items)),
    }


TABLES = _tables()

QUERIES: list[Query] = [
    Query("sales_top_customers_2023",
          "Which 5 customers spent the most in 2023 (completed or shipped orders), and how much?",
          """SELECT c.Customer_Id, c.Name, SUM(oi.Quantity * oi.Unit_Price) AS Revenue
FROM Customers c
JOIN Orders o ON o.Customer_Id = c.Customer_Id
JOIN Order_Items oi ON oi.Order_Id = o.Order_Id
WHERE o.Order_Date >= DATE '2023-01-01' AND o.Order_Date < DATE '2024-01-01'
  AND o.Status IN ('completed', 'shipped')
GROUP BY c.Customer_Id, c.Name
ORDER BY Revenue DESC, c.Customer_Id
LIMIT 5""", True),
    Query("sales_monthly_revenue_2023", "What was our revenue each month of 2023, excluding cancelled orders?",
          """SELECT date_trunc('month', o.order_date) AS month, sum(oi.quantity * oi.unit_price) AS revenue
FROM orders o JOIN order_items oi USING (order_id)
WHERE o.status <> 'cancelled' AND extract(year FROM o.order_date) = 2023
GROUP BY Month
ORDER BY Month""", True),
    Query("sales_orders_by_weekday", "How many orders do we get on each day of the week?",
          """SELECT extract(isodow FROM order_date) AS dow, to_char(order_date, 'FMDay') AS day_name, count(*)
FROM orders
GROUP BY 1, 2
ORDER BY 1""", True),
    Query("sales_aov_by_channel", "What is the average order value per sales channel?",
          """SELECT lower(t.channel) AS channel, round(avg(t.order_total)::numeric, 2) AS avg_order_value,
       count(*) AS orders
FROM (
  SELECT o.order_id, o.channel, sum(oi.quantity * oi.unit_price) AS order_total
  FROM orders o JOIN order_items oi ON oi.order_id = o.order_id
  GROUP BY o.order_id
) t
GROUP BY lower(t.channel)
ORDER BY avg_order_value DESC, channel""", True),
    Query("sales_latest_order_per_customer", "What was each customer's most recent order?",
          """SELECT DISTINCT ON (customer_id) customer_id, order_id, order_date, status
FROM orders
ORDER BY customer_id, order_date DESC, order_id DESC""", True),
    Query("sales_customers_without_orders", "Which customers have never placed an order?",
          """SELECT c.customer_id, c.name, c.signup_date
FROM customers c
WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)
ORDER BY c.customer_id""", True),
    Query("sales_running_revenue", "Show monthly revenue for 2022-2023 with a running total.",
          """WITH monthly AS (
  SELECT to_char(o.order_date, 'YYYY-MM') AS ym, sum(oi.quantity * oi.unit_price) AS revenue
  FROM orders o JOIN order_items oi ON oi.order_id = o.order_id
  WHERE o.order_date BETWEEN '2022-01-01' AND '2023-12-31'
  GROUP BY 1
)
SELECT ym, revenue,
       sum(revenue) OVER (ORDER BY ym ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_revenue
FROM monthly
ORDER BY ym""", True),
    Query("sales_moving_avg_orders", "What is the 3-month moving average of the number of orders?",
          """SELECT month, orders,
       round(avg(orders) OVER (ORDER BY month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), 2) AS moving_avg_3m
FROM (SELECT date_trunc('month', ordered_at)::date AS month, count(*) AS orders FROM orders GROUP BY 1) m
ORDER BY month""", True),
    Query("sales_product_rank_in_category", "Rank products by units sold within each category.",
          """SELECT p.category, p.name, sum(oi.quantity) AS units,
       rank() OVER (PARTITION BY p.category ORDER BY sum(oi.quantity) DESC) AS rnk,
       dense_rank() OVER (PARTITION BY p.category ORDER BY sum(oi.quantity) DESC) AS dense_rnk
FROM products p JOIN order_items oi USING (product_id)
GROUP BY p.product_id
ORDER BY p.category, rnk, p.name""", True),
    Query("sales_category_share", "What share of total revenue does each product category bring in?",
          """SELECT p.category, sum(oi.quantity * oi.unit_price) AS revenue,
       round(100.0 * sum(oi.quantity * oi.unit_price) / sum(sum(oi.quantity * oi.unit_price)) OVER (),
       2) AS pct_of_total
FROM order_items oi JOIN products p ON p.product_id = oi.product_id
GROUP BY p.category
ORDER BY pct_of_total DESC, p.category""", True),
    Query("sales_lines_per_order", "On average how many line items does an order have, as a whole number and exactly?",
          """SELECT count(*) / count(DISTINCT order_id) AS whole_lines_per_order,
       round(count(*)::numeric / count(DISTINCT order_id), 3) AS lines_per_order
FROM order_items""", False),
    Query("sales_net_revenue_by_year", "What was gross and net revenue (after line discounts) per year?",
          """SELECT extract(year FROM o.order_date) AS year,
       sum(oi.quantity * oi.unit_price) AS gross,
       sum(oi.quantity * oi.unit_price * (100 - oi.discount_pct) / 100) AS net,
       sum(oi.quantity * oi.unit_price * (1 - oi.discount_pct / 100)) AS net_integer_division
FROM orders o JOIN order_items oi USING (order_id)
GROUP BY 1
ORDER BY 1""", True),
    Query("sales_status_counts_by_year", "For each year, how many orders were completed, cancelled and returned?",
          """SELECT extract(year FROM order_date)::int AS yr,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'returned') AS returned,
       count(*) AS total
FROM orders
GROUP BY yr
ORDER BY yr""", True),
    Query("sales_median_order_by_channel", "What is the median and 90th percentile order value per channel?",
          """WITH totals AS (
  SELECT o.order_id, lower(o.channel) AS channel, sum(oi.quantity * oi.unit_price) AS total
  FROM orders o JOIN order_items oi USING (order_id)
  GROUP BY o.order_id, o.channel
)
SELECT channel,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY total) AS median_total,
       percentile_disc(0.9) WITHIN GROUP (ORDER BY total) AS p90_total
FROM totals
GROUP BY channel
ORDER BY channel""", True),
    Query("sales_leap_day_baskets", "What products were in each order placed on 29 February 2024?",
          """SELECT o.order_id, string_agg(p.name, ', ' ORDER BY p.name) AS products, count(*) AS lines
FROM orders o
JOIN order_items oi USING (order_id)
JOIN products p USING (product_id)
WHERE o.order_date = '2024-02-29'
GROUP BY o.order_id
ORDER BY o.order_id""", True),
    Query("sales_segment_activity",
          "Per customer segment: are all customers active, is any, and how many are inactive?",
          """SELECT segment, bool_and(is_active) AS all_active, bool_or(is_active) AS any_active,
       count(*) FILTER (WHERE NOT is_active) AS inactive
FROM customers
GROUP BY segment
ORDER BY segment""", True),
    Query("sales_order_value_spread", "How much do order totals vary from year to year (standard deviation)?",
          """WITH t AS (
  SELECT o.order_id, o.order_date, sum(oi.quantity * oi.unit_price) AS total
  FROM orders o JOIN order_items oi USING (order_id) GROUP BY o.order_id
)
SELECT date_part('year', order_date) AS year, round(stddev_samp(total), 2) AS stddev_total,
       round(avg(total), 2) AS avg_total
FROM t GROUP BY 1 ORDER BY 1""", True),
    Query("sales_rollup_category_year", "Revenue by category and year, with category subtotals and a grand total.",
          """SELECT p.category, extract(year FROM o.order_date)::int AS yr, sum(oi.quantity * oi.unit_price) AS revenue
FROM orders o
JOIN order_items oi ON oi.order_id = o.order_id
JOIN products p ON p.product_id = oi.product_id
GROUP BY ROLLUP (p.category, extract(year FROM o.order_date)::int)
ORDER BY p.category NULLS LAST, yr NULLS LAST""", True),
    Query("sales_top10_customers_by_orders",
          "Who are our 10 most frequent customers, with their city and shipping paid?",
          """SELECT c.customer_id, c.name, c.city, count(o.order_id) AS orders, sum(o.shipping_fee) AS shipping
FROM customers c JOIN orders o USING (customer_id)
GROUP BY c.customer_id
ORDER BY orders DESC, c.customer_id
FETCH FIRST 10 ROWS ONLY""", True),
    Query("sales_rarely_sold_products", "Which products have been ordered fewer than 60 times (including never)?",
          """SELECT p.product_id, p.name, count(oi.order_id) AS times_ordered, sum(oi.quantity) AS units
FROM products p LEFT JOIN order_items oi ON oi.product_id = p.product_id
GROUP BY p.product_id, p.name
HAVING count(oi.order_id) < 60
ORDER BY times_ordered, p.product_id""", True),
    Query("sales_rep_managers", "Who does each sales rep report to?",
          """SELECT r.rep_id, r.full_name AS rep, r.region, m.full_name AS manager
FROM sales_reps r LEFT JOIN sales_reps m ON r.manager_id = m.rep_id
ORDER BY r.rep_id""", True),
    Query("sales_top_referrers", "Which customers referred the most new customers?",
          """SELECT ref.customer_id, ref.name, count(*) AS referrals
FROM customers c JOIN customers ref ON c.referred_by = ref.customer_id
GROUP BY ref.customer_id, ref.name
ORDER BY referrals DESC, ref.customer_id
LIMIT 10""", True),
    Query("sales_december_activity_days", "On which days of December 2023 was an order placed or shipped?",
          """SELECT order_date AS day FROM orders WHERE order_date BETWEEN '2023-12-01' AND '2023-12-31'
UNION
SELECT shipped_date FROM orders WHERE shipped_date BETWEEN '2023-12-01' AND '2023-12-31'
ORDER BY day""", True),
    Query("sales_repeat_buyers_2022_2023", "Which customers ordered in both 2022 and 2023?",
          """SELECT customer_id FROM orders WHERE extract(year FROM order_date) = 2022
INTERSECT
SELECT customer_id FROM orders WHERE extract(year FROM order_date) = 2023
ORDER BY 1""", True),
    Query("sales_lapsed_customers_2024", "Which customers ordered in 2023 but not in 2024?",
          """SELECT customer_id FROM orders WHERE order_date BETWEEN '2023-01-01' AND '2023-12-31'
EXCEPT
SELECT customer_id FROM orders WHERE order_date >= '2024-01-01'""", False),
    Query("sales_above_category_avg_price", "Which products are priced above their category's average price?",
          """SELECT p.name, p.category, p.unit_price
FROM products p
WHERE p.unit_price > (SELECT avg(p2.unit_price) FROM products p2 WHERE p2.category = p.category)
ORDER BY p.category, p.unit_price DESC, p.name""", True),
    Query("sales_buyer_share_2024", "What share of all customers placed an order in 2024?",
          """SELECT count(DISTINCT customer_id) AS buyers_2024,
       (SELECT count(*) FROM customers) AS all_customers,
       round(100.0 * count(DISTINCT customer_id) / (SELECT count(*) FROM customers), 1) AS pct
FROM orders
WHERE order_date >= '2024-01-01'""", False),
    Query("sales_outdoor_buyers_2024", "Which customers bought an Outdoor product in 2024?",
          """SELECT customer_id, name
FROM customers
WHERE customer_id IN (
  SELECT o.customer_id FROM orders o JOIN order_items oi USING (order_id) JOIN products p USING (product_id)
  WHERE p.category = 'Outdoor' AND o.order_date >= '2024-01-01')
ORDER BY name, customer_id""", True),
    Query("sales_signup_cohorts", "For each signup quarter, how many customers placed a first order within 30 days?",
          """WITH first_orders AS (
  SELECT customer_id, min(order_date) AS first_order FROM orders GROUP BY customer_id
), cohorts AS (
  SELECT c.customer_id, to_char(c.signup_date, 'YYYY-"Q"Q') AS cohort, f.first_order - c.signup_date AS days_to_first
  FROM customers c LEFT JOIN first_orders f USING (customer_id)
), summary AS (
  SELECT cohort, count(*) AS customers, count(*) FILTER (WHERE days_to_first BETWEEN 0 AND 30) AS quick_starters,
         count(days_to_first) AS ever_ordered
  FROM cohorts GROUP BY cohort
)
SELECT cohort, customers, quick_starters, ever_ordered, round(100.0 * quick_starters / customers, 1) AS quick_pct
FROM summary
ORDER BY cohort""", True),
    Query("sales_mom_growth", "How did revenue change month over month, in percent?",
          """WITH m AS (
  SELECT date_trunc('month', o.order_date)::date AS month, sum(oi.quantity * oi.unit_price) AS revenue
  FROM orders o JOIN order_items oi USING (order_id)
  GROUP BY 1
)
SELECT month, revenue, lag(revenue) OVER (ORDER BY month) AS prev_revenue,
       round(100 * (revenue - lag(revenue) OVER (ORDER BY month)) / nullif(lag(revenue) OVER (ORDER BY month), 0), 1)
         AS mom_pct
FROM m
ORDER BY month""", True),
    Query("sales_order_gaps",
          "For customers with at least 5 orders, what is the average and longest gap between orders?",
          """WITH gaps AS (
  SELECT customer_id,
         lead(order_date) OVER (PARTITION BY customer_id ORDER BY order_date, order_id) - order_date AS gap_days
  FROM orders
)
SELECT customer_id, round(avg(gap_days), 1) AS avg_gap_days, max(gap_days) AS longest_gap
FROM gaps
GROUP BY customer_id
HAVING count(gap_days) >= 4
ORDER BY avg_gap_days DESC, customer_id""", True),
    Query("sales_spend_quartiles",
          "Split customers into quartiles by lifetime spend: how many are in each and what range?",
          """WITH spend AS (
  SELECT o.customer_id, sum(oi.quantity * oi.unit_price) AS spend
  FROM orders o JOIN order_items oi USING (order_id) GROUP BY o.customer_id
), q AS (
  SELECT customer_id, spend, ntile(4) OVER (ORDER BY spend DESC, customer_id) AS quartile FROM spend
)
SELECT quartile, count(*) AS customers, min(spend) AS min_spend, max(spend) AS max_spend
FROM q GROUP BY quartile ORDER BY quartile""", True),
    Query("sales_price_percent_rank", "Where does each product's price sit in the price distribution?",
          """SELECT name, unit_price, round(percent_rank() OVER (ORDER BY unit_price)::numeric, 3) AS pct_rank
FROM products
ORDER BY unit_price, name""", True),
    Query("sales_first_channel", "Through which channel did customers place their very first order?",
          """WITH firsts AS (
  SELECT DISTINCT customer_id,
         first_value(lower(channel)) OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS first_channel
  FROM orders
)
SELECT first_channel, count(*) AS customers FROM firsts GROUP BY first_channel ORDER BY customers DESC,
       first_channel""",
          True),
    Query("sales_email_domains", "Which email domains do our customers use, and how many per domain?",
          """SELECT split_part(lower(email), '@', 2) AS domain, count(*) AS customers
FROM customers
WHERE email IS NOT NULL AND email <> ''
GROUP BY 1
ORDER BY count(*) DESC, domain""", True),
    Query("sales_customers_per_clean_city", "How many customers are in each city once the city names are cleaned up?",
          """SELECT initcap(trim(city)) AS city, count(*) AS customers
FROM customers
GROUP BY 1
ORDER BY customers DESC, city""", True),
    Query("sales_pro_or_office_skus", "Which products have 'pro' in their name, or an office SKU in the 1000s?",
          """SELECT sku, name FROM products
WHERE name ILIKE '%pro%' OR sku ~ '^OF-1[0-9]{3}$'
ORDER BY sku""", True),
    Query("sales_leap_signup_labels",
          "Give a display label and contact line for customers who signed up in February 2024.",
          """SELECT c.customer_id, c.name || ' (' || c.city || ')' AS label, concat(c.name, ' <', c.email,
       '>') AS contact,
       concat_ws(' / ', c.phone, c.email) AS reach, c.name || ' ' || c.email AS name_email
FROM customers c
WHERE c.signup_date BETWEEN '2024-02-01' AND '2024-02-29'
ORDER BY c.customer_id""", True),
    Query("sales_sku_parts", "Break each SKU into its prefix and number, and show padded product ids.",
          """SELECT sku, left(sku, 2) AS prefix, substring(sku FROM 4 FOR 4) AS num, right(sku, 2),
       position('-' IN sku) AS dash_at,
       lpad(product_id::text, 5, '0') AS padded_id, rpad(category, 12, '.') AS cat
FROM products
ORDER BY product_id""", True),
    Query("sales_phone_digits", "Show the first 15 customers' phone numbers as digits only.",
          """SELECT customer_id, phone, regexp_replace(phone, '[^0-9]', '', 'g') AS digits,
       length(regexp_replace(phone, '[^0-9]', '', 'g')) AS n_digits, replace(phone, ' ', '') AS no_spaces
FROM customers
WHERE phone IS NOT NULL AND phone <> ''
ORDER BY customer_id
LIMIT 15""", True),
    Query("sales_discount_codes", "How many orders used each discount code (codes are case-insensitive)?",
          """SELECT coalesce(upper(discount_code), '(none)') AS code, count(*) AS orders
FROM orders
GROUP BY 1
ORDER BY count(*) DESC, code""", True),
    Query("sales_discount_code_usage", "How many orders had a discount code and how many had none?",
          """SELECT count(discount_code) AS with_code, count(*) - count(discount_code) AS without_code,
       count(*) FILTER (WHERE discount_code IS NULL) AS null_codes, count(*) AS all_orders
FROM orders""", False),
    Query("sales_orders_not_rep3", "How many orders were not handled by rep 3, counting orders with no rep?",
          """SELECT count(*) FILTER (WHERE sales_rep_id IS DISTINCT FROM 3) AS not_rep3,
       count(*) FILTER (WHERE sales_rep_id <> 3) AS not_rep3_with_rep,
       count(*) FILTER (WHERE sales_rep_id IS NULL) AS no_rep
FROM orders""", False),
    Query("sales_rep_quotas", "List sales reps by quota, highest first, with reps without a quota at the top.",
          """SELECT full_name, quota FROM sales_reps ORDER BY quota DESC NULLS FIRST, full_name, rep_id""", True),
    Query("sales_latest_shipments", "Which 10 orders shipped most recently (show unshipped first)?",
          """SELECT order_id, order_date, shipped_date, status FROM orders
ORDER BY shipped_date DESC, order_id LIMIT 10""",
          True),
    Query("sales_days_to_ship", "How many days does it take to ship an order, by status?",
          """SELECT status, round(avg(shipped_date - order_date), 2) AS avg_days_to_ship,
       max(shipped_date - order_date) AS max_days
FROM orders
WHERE shipped_date IS NOT NULL
GROUP BY status
ORDER BY status""", True),
    Query("sales_leap_day_deadlines",
          "For leap-day orders, when are the 3-day promise, the follow-up, and the renewal dates?",
          """SELECT order_id, ordered_at, ordered_at + interval '3 days' AS promise_at, order_date + 7 AS follow_up_day,
       order_date + interval '1 month' AS renewal_at, (order_date + interval '1 year')::date AS anniversary
FROM orders
WHERE order_date = '2024-02-29'
ORDER BY order_id""", True),
    Query("sales_customer_tenure", "How long had each of the first 15 customers been with us at their latest order?",
          """SELECT c.customer_id, c.signup_date, max(o.order_date) AS last_order, age(max(o.order_date),
       c.signup_date) AS tenure
FROM customers c JOIN orders o USING (customer_id)
WHERE c.customer_id <= 15
GROUP BY c.customer_id
ORDER BY c.customer_id""", True),
    Query("sales_daily_order_span",
          "Between Christmas and New Year 2023, how long was the span between the first and last order of each day?",
          """SELECT order_date, count(*) AS orders, max(ordered_at) - min(ordered_at) AS span,
       round(extract(epoch FROM max(ordered_at) - min(ordered_at)) / 3600, 2) AS span_hours
FROM orders
WHERE order_date BETWEEN '2023-12-25' AND '2023-12-31'
GROUP BY order_date
ORDER BY order_date""", True),
    Query("sales_mobile_orders_calendar",
          "How many mobile app orders did we get each month of 2023, including months with none?",
          """SELECT g.month::date AS month, count(o.order_id) AS app_orders
FROM generate_series(date '2023-01-01', date '2023-12-01', interval '1 month') AS g(month)
LEFT JOIN orders o ON date_trunc('month', o.order_date) = g.month AND lower(o.channel) = 'mobile app'
GROUP BY g.month
ORDER BY g.month""", True),
    Query("sales_winter_month_labels", "How many orders were placed each month from November 2023 to March 2024?",
          """SELECT to_char(date_trunc('month', order_date), 'Mon YYYY') AS month_label, count(*) AS orders
FROM orders
WHERE order_date BETWEEN '2023-11-01' AND '2024-03-31'
GROUP BY date_trunc('month', order_date)
ORDER BY date_trunc('month', order_date)""", True),
    Query("sales_q1_2024_weeks", "How many orders did we get per ISO week in Q1 2024?",
          """SELECT date_trunc('week', order_date)::date AS week_start, extract(week FROM min(order_date)) AS iso_week,
       count(*) AS orders
FROM orders
WHERE order_date >= make_date(2024, 1, 1) AND order_date < to_date('2024-04-01', 'YYYY-MM-DD')
GROUP BY 1
ORDER BY 1""", True),
    Query("sales_order_size_buckets", "How many small, medium and large orders did we get per quarter of 2023?",
          """WITH t AS (
  SELECT o.order_id, o.order_date, sum(oi.quantity * oi.unit_price) AS total
  FROM orders o JOIN order_items oi USING (order_id) GROUP BY o.order_id
)
SELECT extract(quarter FROM order_date) AS quarter,
       CASE WHEN total < 100 THEN 'small' WHEN total < 500 THEN 'medium' ELSE 'large' END AS size,
       count(*) AS orders
FROM t
WHERE order_date BETWEEN '2023-01-01' AND '2023-12-31'
GROUP BY 1, 2
ORDER BY 1, 2""", True),
    Query("sales_grouping_sets_channel_status", "Order counts by channel, by status, and overall, in one table.",
          """SELECT lower(channel) AS channel, status, count(*) AS orders, grouping(lower(channel), status) AS level
FROM orders
GROUP BY GROUPING SETS ((lower(channel)), (status), ())
ORDER BY level, channel NULLS LAST, status NULLS LAST""", True),
    Query("sales_customers_rank_11_20", "Which customers rank 11th to 20th by number of orders?",
          """SELECT customer_id, count(*) AS orders FROM orders
GROUP BY customer_id
ORDER BY orders DESC, customer_id
LIMIT 10 OFFSET 10""", True),
    Query("sales_product_margins", "What are each product's margin, margin percent, and a few rounded price figures?",
          """SELECT name, unit_price, cost, unit_price - cost AS margin,
       round(100 * (unit_price - cost) / nullif(unit_price, 0), 1) AS margin_pct,
       greatest(unit_price - cost, 0) AS positive_margin, least(unit_price, cost) AS lower_of_two,
       abs(unit_price - cost) AS abs_margin, ceil(unit_price) AS price_ceiling, floor(cost) AS cost_floor,
       mod(product_id, 3) AS bucket, product_id % 4 AS bucket4
FROM products
ORDER BY product_id""", True),
    Query("sales_shipping_fee_rounding", "List the distinct shipping fees rounded to one decimal and to whole units.",
          """SELECT DISTINCT shipping_fee, round(shipping_fee, 1) AS fee_1dp, round(shipping_fee) AS fee_whole,
       CAST(shipping_fee AS DECIMAL(10,1)) AS fee_cast, CAST(2.25 AS DECIMAL(10,1)) AS two_25
FROM orders
ORDER BY shipping_fee""", True),
    Query("sales_quantity_rms", "What is the root-mean-square line quantity per category?",
          """SELECT p.category, round(sqrt(avg(power(oi.quantity, 2)))::numeric, 3) AS rms_quantity,
       round(avg(oi.quantity), 3) AS mean_quantity
FROM order_items oi JOIN products p USING (product_id)
GROUP BY p.category
ORDER BY p.category""", True),
    Query("sales_corporate_products", "Which products have been bought by Corporate customers, and at what list price?",
          """SELECT product_id, name, CAST(unit_price AS NUMERIC(10,1)) AS price_1dp, unit_price::int AS price_int
FROM products
WHERE product_id IN (SELECT oi.product_id FROM order_items oi JOIN orders o ON o.order_id = oi.order_id
                     WHERE o.customer_id IN (SELECT customer_id FROM customers WHERE segment = 'Corporate'))
ORDER BY product_id""", True),
]
