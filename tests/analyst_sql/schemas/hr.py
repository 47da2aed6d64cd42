"""People data: departments, employees, salary history, time off and performance reviews (2012-2024)."""

from __future__ import annotations

import datetime as dt
import random

from tests.analyst_sql.model import BOOL, DATE, INT, MONEY, TEXT, TS, Query, Table, frame, maybe, money, rand_date

NAME = "hr"

DEPARTMENTS = ["Executive", "Engineering", "Sales", "Marketing", "Finance", "People", "Support", "Legal", "Operations",
               "Data", "Design", "Product", "IT", "Procurement", "Facilities", "Security", "Research",
               "Customer Success", "Partnerships", "Quality"]
PARENTS = {2: 1, 3: 1, 4: 3, 5: 1, 6: 1, 7: 3, 8: 5, 9: 1, 10: 2, 11: 12, 12: 2, 13: 9, 14: 9, 15: 13, 16: 2, 17: 3,
           18: 3, 19: 5}
FIRST = ["Aiko", "Bruno", "Chloe", "Dario", "Emma", "Felix", "Gina", "Hannes", "Ivy", "Jakob", "Katja", "Lars",
         "Maya", "Noah", "Oskar", "Pia", "Ravi", "Sofia", "Timo", "Uma", "Vera", "Wim", "Xenia", "Yusuf", "Zoe"]
LAST = ["Adler", "Brandt", "Costa", "Dietrich", "Evans", "Fischer", "Gruber", "Hall", "Ito", "Jansen", "Klein",
        "Lang", "Moreau", "Nowak", "Ortiz", "Park", "Quist", "Roth", "Sato", "Thompson"]
TITLES = ["Software Engineer", "Senior Software Engineer", "senior software engineer", "Data Engineer", "Analyst",
          "Sales Manager", "Account Executive", "account executive ", "Designer", "Support Specialist",
          "Engineering Manager", "Recruiter", "Accountant", "Product Manager", "Senior Analyst"]
LEAP_HIRES = {17: dt.date(2016, 2, 29), 45: dt.date(2020, 2, 29), 88: dt.date(2023, 8, 31),
              120: dt.date(2024, 2, 29), 150: dt.date(2023, 12, 31), 151: dt.date(2024, 1, 1),
              200: dt.date(2024, 8, 31), 201: dt.date(2024, 5, 31)}


def _departments(rng: random.Random) -> list[tuple]:
    rows = []
    for i, name in enumerate(DEPARTMENTS, start=1):
        location = rng.choice(["Berlin", "London", "Remote", "New York", None])
        rows.append((i, name, PARENTS.get(i), location, money(rng.choice([250000, 500000, 500000, 1200000,
                                                                          87500.25]))))
    return rows


def _employees(rng: random.Random) -> list[tuple]:
    rows, heads = [], {}
    for eid in range(1, 301):
        dept = 1 if eid == 1 else (eid - 2) % 19 + 2 if eid <= 20 else rng.choice(range(2, 21))
        if eid <= 20:
            heads[dept] = eid
        manager = None if eid == 1 else 1 if eid <= 20 else heads[dept]
        first, last = FIRST[(eid * 7) % 25], LAST[(eid * 3 + eid // 25) % 20]
        middle = rng.choice([None, None, None, "", "  ", "Marie", "J.", "Lee"])
        email = f"{first.lower()}.{last.lower()}{eid if eid % 9 == 0 else ''}@acme.example"
        if eid % 23 == 0:
            email = email.upper()
        elif eid % 31 == 0:
            email = f"{first.lower()}@acme"
        hire = LEAP_HIRES.get(eid) or rand_date(rng, dt.date(2012, 1, 1), dt.date(2024, 11, 30))
        birth = dt.date(2000, 2, 29) if eid == 60 else rand_date(rng, dt.date(1962, 1, 1), dt.date(2001, 12, 31))
        left = maybe(rng, 0.17, rand_date(rng, hire + dt.timedelta(days=60), dt.date(2025, 1, 31)))
        if left and left > dt.date(2024, 12, 31):
            left = None
        band = 180000 if eid == 1 else 120000 if eid <= 20 else rng.choice([45000, 52000, 60000, 60000, 72000,
                                                                          85000, 85000, 98000, 110000, 130000])
        salary = money(band + rng.choice([0, 0, 0, 2500, 5000, 7500.5]))
        rows.append((eid, first, middle, last, email, dept, manager, rng.choice(TITLES), hire, left, birth, salary,
                     rng.random() < 0.35))
    return rows


def _salary_history(rng: random.Random, employees: list[tuple]) -> list[tuple]:
    rows = []
    for e in employees:
        eid, hire, final = e[0], e[8], e[11]
        steps = rng.choice([1, 2, 2, 3, 3, 4, 5])
        days = sorted({hire} | {rand_date(rng, hire + dt.timedelta(days=30), dt.date(2024, 12, 31))
                                for _ in range(steps - 1) if hire < dt.date(2024, 11, 1)})
        salary = money(final * money(rng.choice(["0.70", "0.80", "0.85"]))) if len(days) > 1 else final
        for i, day in enumerate(days):
            if i == len(days) - 1:
                salary = final
            reason = "hire" if i == 0 else rng.choice(["promotion", "annual review", "Annual Review",
                                                       "market adjustment", "annual review"])
            rows.append((eid, day, salary, reason))
            salary = money(salary * money(rng.choice(["1.03", "1.05", "1.08", "1.12"])))
    return rows


def _time_off(rng: random.Random, employees: list[tuple]) -> list[tuple]:
    rows = []
    for rid in range(1, 701):
        e = rng.choice(employees)
        start = rand_date(rng, max(e[8], dt.date(2021, 1, 1)), dt.date(2024, 12, 20))
        if rid % 50 == 0:
            start = dt.date(2023, 12, 27)
        length = rng.choice([0, 0, 1, 2, 4, 4, 9, 13])
        kind = rng.choice(["vacation", "vacation", "Vacation", "sick", "sick", "parental", "training"])
        requested = dt.datetime.combine(start - dt.timedelta(days=rng.choice([0, 1, 3, 14, 30, 45])),
                                        dt.time(rng.randint(7, 19), rng.randint(0, 59), rng.choice([0, 0, 30])))
        approved = rng.choice([True, True, True, False, None])
        rows.append((rid, e[0], start, start + dt.timedelta(days=length), kind, approved, requested))
    return rows


def _reviews(rng: random.Random, employees: list[tuple]) -> list[tuple]:
    rows, rid = [], 1
    for e in employees:
        for year in range(max(e[8].year, 2019), 2025):
            if rng.random() < 0.45 or (e[9] and year > e[9].year):
                continue
            score = money(rng.choice(["1.50", "2.25", "2.45", "3.00", "3.15", "3.25", "3.35", "3.50", "3.65", "4.05",
                                      "4.15", "4.25", "4.50", "4.95", "5.00"]))
            reviewer = e[6] if rng.random() < 0.85 else rng.choice([None, 1, 2])
            comments = rng.choice([None, None, "", "   ", "Solid year.", "exceeds expectations",
                                   "Needs support on planning", "Great mentor; strong delivery"])
            rows.append((rid, e[0], year, score, reviewer, comments))
            rid += 1
    return rows


def _tables() -> dict[str, Table]:
    rng = random.Random(2002)
    departments, employees = _departments(rng), _employees(rng)
    history, time_off, reviews = _salary_history(rng, employees), _time_off(rng, employees), _reviews(rng, employees)
    return {
        "departments": Table(
            "CREATE TABLE departments (department_id integer PRIMARY KEY, name text NOT NULL UNIQUE, "
            "parent_department_id integer REFERENCES departments (department_id), location text, "
            "budget numeric(10,2) NOT NULL)",
            frame([("department_id", INT), ("name", TEXT), ("parent_department_id", INT), ("location", TEXT),
                   ("budget", MONEY)], departments)),
        "employees": Table(
            "CREATE TABLE employees (employee_id integer PRIMARY KEY, first_name text NOT NULL, middle_name text, "
            "last_name text NOT NULL, email text NOT NULL, department_id integer NOT NULL REFERENCES departments, "
            "manager_id integer REFERENCES employees (employee_id), job_title text NOT NULL, hire_date date NOT NULL, "
            "termination_date date, birth_date date NOT NULL, salary numeric(10,2) NOT NULL, "
            "is_remote boolean NOT NULL)",
            frame([("employee_id", INT), ("first_name", TEXT), ("middle_name", TEXT), ("last_name", TEXT),
                   ("email", TEXT), ("department_id", INT), ("manager_id", INT), ("job_title", TEXT),
                   ("hire_date", DATE), ("termination_date", DATE), ("birth_date", DATE), ("salary", MONEY),
                   ("is_remote", BOOL)], employees)),
        "salary_history": Table(
            "CREATE TABLE salary_history (employee_id integer NOT NULL REFERENCES employees, "
            "effective_date date NOT NULL, salary numeric(10,2) NOT NULL, reason text NOT NULL, "
            "PRIMARY KEY (employee_id, effective_date))",
            frame([("employee_id", INT), ("effective_date", DATE), ("salary", MONEY), ("reason", TEXT)], history)),
        "time_off": Table(
            "CREATE TABLE time_off (request_id integer PRIMARY KEY, employee_id integer NOT NULL REFERENCES employees, "
            "start_date date NOT NULL, end_date date NOT NULL, kind text NOT NULL, approved boolean, "
            "requested_at timestamp NOT NULL)",
            frame([("request_id", INT), ("employee_id", INT), ("start_date", DATE), ("end_date", DATE),
                   ("kind", TEXT), ("approved", BOOL), ("requested_at", TS)], time_off)),
        "performance_reviews": Table(
            "CREATE TABLE performance_reviews (review_id integer PRIMARY KEY, "
            "employee_id integer NOT NULL REFERENCES employees, review_year integer NOT NULL, "
            "score numeric(10,2) NOT NULL, reviewer_id integer REFERENCES employees (employee_id), comments text, "
            "UNIQUE (employee_id, review_year))",
            frame([("review_id", INT), ("employee_id", INT), ("review_year", INT), ("score", MONEY),
                   ("reviewer_id", INT), ("comments", TEXT)], reviews)),
    }


TABLES = _tables()

QUERIES: list[Query] = [
    Query("hr_headcount_by_department", "How many active employees does each department have?",
          """SELECT d.Name AS Department, COUNT(e.Employee_Id) AS Headcount
FROM Departments d
LEFT JOIN Employees e ON e.Department_Id = d.Department_Id AND e.Termination_Date IS NULL
GROUP BY d.Name
ORDER BY Headcount DESC, Department""", True),
    Query("hr_salary_by_department", "What are the average, lowest and highest salaries per department?",
          """SELECT d.name AS department, round(avg(e.salary)::numeric, 2) AS avg_salary, min(e.salary) AS min_salary,
       max(e.salary) AS max_salary, count(*) AS employees
FROM employees e JOIN departments d USING (department_id)
GROUP BY d.name
ORDER BY avg_salary DESC, department""", True),
    Query("hr_top_earner_per_department", "Who is the best-paid employee in each department?",
          """SELECT DISTINCT ON (e.department_id) e.department_id, d.name, e.employee_id, e.first_name, e.last_name,
       e.salary
FROM employees e JOIN departments d ON d.department_id = e.department_id
ORDER BY e.department_id, e.salary DESC, e.employee_id""", True),
    Query("hr_top3_per_department", "List the three highest-paid active employees in each department.",
          """SELECT department, employee_id, salary, rn
FROM (
  SELECT d.name AS department, e.employee_id, e.salary,
         row_number() OVER (PARTITION BY d.department_id ORDER BY e.salary DESC, e.employee_id) AS rn
  FROM employees e JOIN departments d ON d.department_id = e.department_id
  WHERE e.termination_date IS NULL
) ranked
WHERE rn <= 3
ORDER BY department, rn""", True),
    Query("hr_paid_more_than_manager", "Which employees earn more than their manager?",
          """SELECT e.employee_id, e.first_name || ' ' || e.last_name AS employee, e.salary,
       m.first_name || ' ' || m.last_name AS manager, m.salary AS manager_salary
FROM employees e
JOIN employees m ON m.employee_id = e.manager_id
WHERE e.salary > m.salary
ORDER BY e.employee_id""", True),
    Query("hr_hires_per_year", "How many people did we hire each year, and cumulatively?",
          """SELECT extract(year FROM hire_date)::int AS year, count(*) AS hires,
       sum(count(*)) OVER (ORDER BY extract(year FROM hire_date)::int) AS cumulative_hires
FROM employees
GROUP BY 1
ORDER BY 1""", True),
    Query("hr_attrition_by_department", "What share of each department's employees have left?",
          """SELECT d.name, count(*) AS ever_employed, count(e.termination_date) AS leavers,
       round(100.0 * count(e.termination_date) / nullif(count(*), 0), 1) AS attrition_pct
FROM departments d JOIN employees e ON e.department_id = d.department_id
GROUP BY d.department_id
ORDER BY attrition_pct DESC, d.name""", True),
    Query("hr_veterans_by_department", "How many active employees had at least 5 years of tenure at the end of 2024?",
          """SELECT d.name AS department, count(*) AS veterans
FROM employees e JOIN departments d USING (department_id)
WHERE e.termination_date IS NULL AND date_part('year', age(date '2024-12-31', e.hire_date)) >= 5
GROUP BY d.name
ORDER BY veterans DESC, department""", True),
    Query("hr_age_at_hire_bands", "How old were people when we hired them, in age bands?",
          """SELECT CASE WHEN extract(year FROM age(hire_date, birth_date)) < 25 THEN 'under 25'
            WHEN extract(year FROM age(hire_date, birth_date)) < 35 THEN '25-34'
            WHEN extract(year FROM age(hire_date, birth_date)) < 45 THEN '35-44'
            ELSE '45+' END AS age_band,
       count(*) AS hires
FROM employees
GROUP BY 1
ORDER BY 1""", True),
    Query("hr_february_birthdays", "Whose birthdays fall in February?",
          """SELECT employee_id, first_name, last_name, to_char(birth_date, 'DD Mon') AS birthday, birth_date
FROM employees
WHERE extract(month FROM birth_date) = 2
ORDER BY extract(day FROM birth_date), employee_id""", True),
    Query("hr_salary_steps_first_ten", "Show the salary history of employees 1-10 with the raise at each step.",
          """SELECT employee_id, effective_date, salary,
       lag(salary) OVER (PARTITION BY employee_id ORDER BY effective_date) AS previous_salary,
       round(100 * (salary / lag(salary) OVER (PARTITION BY employee_id ORDER BY effective_date) - 1), 1) AS raise_pct
FROM salary_history
WHERE employee_id BETWEEN 1 AND 10
ORDER BY employee_id, effective_date""", True),
    Query("hr_biggest_raises", "What were the 10 biggest raises in percent?",
          """WITH steps AS (
  SELECT employee_id, effective_date, salary,
         lag(salary) OVER (PARTITION BY employee_id ORDER BY effective_date) AS prev
  FROM salary_history
)
SELECT employee_id, effective_date, prev, salary, round((salary - prev) * 100 / prev, 2) AS raise_pct
FROM steps
WHERE prev IS NOT NULL
ORDER BY raise_pct DESC, employee_id, effective_date
LIMIT 10""", True),
    Query("hr_raise_by_reason", "What is the average raise amount for each reason (reasons are case-insensitive)?",
          """WITH steps AS (
  SELECT lower(reason) AS reason, salary - lag(salary) OVER (PARTITION BY employee_id ORDER BY effective_date) AS raise
  FROM salary_history
)
SELECT reason, count(raise) AS raises, round(avg(raise), 2) AS avg_raise
FROM steps
WHERE reason <> 'hire'
GROUP BY reason
ORDER BY reason""", True),
    Query("hr_time_off_days", "How many approved days off were taken per kind and year?",
          """SELECT extract(year FROM start_date) AS year, lower(kind) AS kind, sum(end_date - start_date + 1) AS days
FROM time_off
WHERE approved
GROUP BY 1, 2
ORDER BY 1, 2""", True),
    Query("hr_pending_requests", "How many time-off requests are still pending, per department?",
          """SELECT d.name, count(*) AS pending
FROM time_off t
JOIN employees e ON e.employee_id = t.employee_id
JOIN departments d ON d.department_id = e.department_id
WHERE t.approved IS NULL
GROUP BY d.name
ORDER BY pending DESC, d.name""", True),
    Query("hr_new_year_absences", "Who was off over New Year 2023/2024?",
          """SELECT t.request_id, t.employee_id, t.start_date, t.end_date, t.end_date - t.start_date + 1 AS days,
       t.approved
FROM time_off t
WHERE t.start_date <= '2023-12-31' AND t.end_date >= '2024-01-01'
ORDER BY t.start_date, t.request_id""", True),
    Query("hr_request_lead_time", "How far in advance are time-off requests made, by kind?",
          """SELECT lower(kind) AS kind,
       round((avg(extract(epoch FROM (start_date::timestamp - requested_at))) / 86400)::numeric, 1) AS avg_days_ahead,
       avg(start_date - requested_at::date) AS avg_calendar_days,
       max(start_date::timestamp - requested_at) AS longest_lead
FROM time_off
GROUP BY 1
ORDER BY 1""", True),
    Query("hr_review_score_distribution", "What is the median and lower-quartile review score each year?",
          """SELECT review_year, percentile_cont(0.5) WITHIN GROUP (ORDER BY score) AS median_score,
       percentile_disc(0.25) WITHIN GROUP (ORDER BY score) AS p25_score, count(*) AS reviews
FROM performance_reviews
GROUP BY review_year
ORDER BY review_year""", True),
    Query("hr_score_rounding", "How are review scores rounded to one decimal and to whole points?",
          """SELECT score, round(score, 1) AS one_decimal, round(score) AS whole, trunc(score, 1) AS truncated,
       count(*) AS reviews
FROM performance_reviews
GROUP BY score
ORDER BY score""", True),
    Query("hr_never_reviewed", "Which active employees hired before 2023 have never had a review?",
          """SELECT e.employee_id, e.first_name, e.last_name, e.hire_date
FROM employees e
WHERE e.termination_date IS NULL AND e.hire_date < '2023-01-01'
  AND NOT EXISTS (SELECT 1 FROM performance_reviews r WHERE r.employee_id = e.employee_id)
ORDER BY e.employee_id""", True),
    Query("hr_reviewed_2021_to_2023", "Which employees were reviewed in each of 2021, 2022 and 2023?",
          """SELECT employee_id FROM performance_reviews WHERE review_year = 2021
INTERSECT
SELECT employee_id FROM performance_reviews WHERE review_year = 2022
INTERSECT
SELECT employee_id FROM performance_reviews WHERE review_year = 2023""", False),
    Query("hr_departments_with_remote_high_earners", "Which departments have a remote employee earning over 100k?",
          """SELECT d.department_id, d.name
FROM departments d
WHERE EXISTS (SELECT 1 FROM employees e WHERE e.department_id = d.department_id AND e.is_remote AND e.salary > 100000)
ORDER BY d.name""", True),
    Query("hr_department_tree", "Which department does each department roll up to?",
          """SELECT d.name AS department, coalesce(p.name, '(top level)') AS parent, coalesce(d.location,
       'unknown') AS location
FROM departments d LEFT JOIN departments p ON p.department_id = d.parent_department_id
ORDER BY d.department_id""", True),
    Query("hr_management_depth", "How many employees sit at each level below the CEO?",
          """WITH RECURSIVE chain AS (
  SELECT employee_id, manager_id, 0 AS depth FROM employees WHERE manager_id IS NULL
  UNION ALL
  SELECT e.employee_id, e.manager_id, c.depth + 1 FROM employees e JOIN chain c ON e.manager_id = c.employee_id
)
SELECT depth, count(*) AS employees FROM chain GROUP BY depth ORDER BY depth""", True),
    Query("hr_job_titles_clean", "How many employees hold each job title, once titles are tidied up?",
          """SELECT initcap(lower(trim(job_title))) AS title, count(*) AS people
FROM employees
GROUP BY 1
ORDER BY people DESC, title""", True),
    Query("hr_engineers", "How many engineers and senior staff do we have?",
          """SELECT count(*) FILTER (WHERE job_title ILIKE '%engineer%') AS engineers,
       count(*) FILTER (WHERE job_title ~* '^senior') AS senior_staff,
       count(*) FILTER (WHERE job_title LIKE 'Senior%') AS senior_exact_case
FROM employees""", False),
    Query("hr_irregular_emails", "Which employees' email addresses do not follow the first.last@acme.example pattern?",
          r"""SELECT employee_id, email
FROM employees
WHERE email !~ '^[a-z]+\.[a-z]+[0-9]*@acme\.example$'
ORDER BY employee_id""", True),
    Query("hr_name_formats", "Show initials, a 'LAST, First' label and the full name for the first 20 employees.",
          """SELECT employee_id, left(first_name, 1) || left(last_name, 1) AS initials,
       upper(last_name) || ', ' || first_name AS sort_name,
       concat_ws(' ', first_name, nullif(trim(middle_name), ''), last_name) AS full_name,
       length(coalesce(middle_name, '')) AS middle_len
FROM employees
ORDER BY employee_id
LIMIT 20""", True),
    Query("hr_salary_bands", "How many active employees fall into each salary band?",
          """SELECT CASE WHEN salary < 50000 THEN '1: <50k' WHEN salary < 80000 THEN '2: 50-80k'
            WHEN salary < 120000 THEN '3: 80-120k' ELSE '4: 120k+' END AS band,
       count(*) AS employees, sum(salary) AS payroll
FROM employees
WHERE termination_date IS NULL
GROUP BY band
ORDER BY band""", True),
    Query("hr_salary_quartiles", "What salary range does each quartile of employees cover?",
          """SELECT quartile, count(*) AS employees, min(salary) AS low, max(salary) AS high
FROM (SELECT salary, ntile(4) OVER (ORDER BY salary, employee_id) AS quartile FROM employees) q
GROUP BY quartile
ORDER BY quartile""", True),
    Query("hr_engineering_percent_rank", "Where does each Engineering salary rank within the department?",
          """SELECT e.employee_id, e.salary, round(percent_rank() OVER (ORDER BY e.salary)::numeric, 4) AS pct_rank,
       cume_dist() OVER (ORDER BY e.salary) AS cume
FROM employees e JOIN departments d USING (department_id)
WHERE d.name = 'Engineering'
ORDER BY e.salary, e.employee_id""", True),
    Query("hr_payroll_share", "What share of total payroll goes to each department?",
          """SELECT d.name, sum(e.salary) AS payroll, round(100 * sum(e.salary) / sum(sum(e.salary)) OVER (),
       2) AS share_pct
FROM employees e JOIN departments d ON d.department_id = e.department_id
WHERE e.termination_date IS NULL
GROUP BY d.name
ORDER BY share_pct DESC, d.name""", True),
    Query("hr_salary_spread", "How spread out are salaries in departments with at least 15 people?",
          """SELECT department_id, count(*) AS n, round(stddev_samp(salary), 2) AS sd,
       round(variance(salary) / 1000000, 3) AS var_m
FROM employees
GROUP BY department_id
HAVING count(*) >= 15
ORDER BY department_id""", True),
    Query("hr_remote_by_location", "Per department location, is everyone remote, anyone remote?",
          """SELECT coalesce(d.location, '(none)') AS location, bool_and(e.is_remote) AS all_remote,
       bool_or(e.is_remote) AS any_remote, count(*) FILTER (WHERE e.is_remote) AS remote
FROM employees e JOIN departments d USING (department_id)
GROUP BY 1
ORDER BY 1""", True),
    Query("hr_small_department_rosters", "List the first names in each department that has at most 12 people.",
          """SELECT d.name, count(*) AS people, string_agg(e.first_name, ', ' ORDER BY e.first_name,
       e.employee_id) AS roster
FROM departments d JOIN employees e USING (department_id)
GROUP BY d.name
HAVING count(*) <= 12
ORDER BY d.name""", True),
    Query("hr_rollup_location_remote", "Headcount by location and remote status, with subtotals.",
          """SELECT d.location, e.is_remote, count(*) AS employees
FROM employees e JOIN departments d USING (department_id)
GROUP BY ROLLUP (d.location, e.is_remote)
ORDER BY d.location NULLS FIRST, e.is_remote NULLS LAST, employees""", False),
    Query("hr_average_tenure_years", "What is the average tenure in whole years (hires up to 2024)?",
          """SELECT sum(2024 - extract(year FROM hire_date)::int) / count(*) AS whole_years,
       round(avg(2024 - extract(year FROM hire_date)), 2) AS avg_years,
       sum(end_date_days)::bigint / 7 AS full_weeks_off
FROM employees e
CROSS JOIN LATERAL (SELECT coalesce(sum(t.end_date - t.start_date + 1), 0) AS end_date_days
                    FROM time_off t WHERE t.employee_id = e.employee_id AND t.approved) x""", False),
    Query("hr_quarterly_hires", "How many people did we hire each quarter of 2023 and 2024?",
          """SELECT date_trunc('quarter', hire_date)::date AS quarter_start, extract(quarter FROM hire_date) AS q,
       count(*) AS hires
FROM employees
WHERE hire_date >= '2023-01-01'
GROUP BY 1, 2
ORDER BY 1""", True),
    Query("hr_hiring_calendar_2024", "How many people joined in each month of 2024, including months with no hires?",
          """SELECT to_char(m, 'YYYY-MM') AS month, count(e.employee_id) AS hires
FROM generate_series('2024-01-01'::date, '2024-12-01'::date, '1 month'::interval) AS m
LEFT JOIN employees e ON e.hire_date >= m AND e.hire_date < m + interval '1 month'
GROUP BY m
ORDER BY m""", True),
    Query("hr_probation_end", "When does the 6-month probation end for people hired since August 2023?",
          """SELECT employee_id, hire_date, (hire_date + interval '6 months')::date AS probation_end,
       hire_date + 90 AS day_90
FROM employees
WHERE hire_date >= '2023-08-01'
ORDER BY hire_date, employee_id""", True),
    Query("hr_requests_after_policy",
          "How many time-off requests were made after the policy change on 15 March 2024 09:30?",
          """SELECT lower(kind) AS kind, count(*) AS requests
FROM time_off
WHERE requested_at >= to_timestamp('2024-03-15 09:30:00', 'YYYY-MM-DD HH24:MI:SS')::timestamp
GROUP BY lower(kind)
ORDER BY requests DESC, kind""", True),
    Query("hr_notice_given", "How many days of notice did requests give (never negative), by approval state?",
          """SELECT CASE WHEN approved IS NULL THEN 'pending' WHEN approved THEN 'approved' ELSE 'rejected' END
         AS state,
       avg(greatest(start_date - requested_at::date, 0)) AS avg_notice_days,
       least(min(start_date - requested_at::date), 7) AS min_notice_capped
FROM time_off
GROUP BY 1
ORDER BY 1""", True),
    Query("hr_directory_page_3", "Show page 3 (rows 21-30) of the staff directory sorted by last name.",
          """SELECT last_name, first_name, employee_id FROM employees
ORDER BY last_name, first_name, employee_id
LIMIT 10 OFFSET 20""", True),
    Query("hr_hires_selected_departments", "Who joined Engineering, Sales or Finance between mid-2023 and mid-2024?",
          """SELECT employee_id, department_id, hire_date
FROM employees
WHERE department_id IN (2, 3, 5) AND hire_date BETWEEN '2023-07-01' AND '2024-06-30'
ORDER BY hire_date, employee_id""", True),
    Query("hr_reviewer_not_manager", "How many reviews were done by someone other than the employee's manager?",
          """SELECT r.review_year,
       count(*) FILTER (WHERE r.reviewer_id IS DISTINCT FROM e.manager_id) AS other_reviewer,
       count(*) FILTER (WHERE r.reviewer_id <> e.manager_id) AS other_known_reviewer, count(*) AS reviews
FROM performance_reviews r JOIN employees e USING (employee_id)
GROUP BY r.review_year
ORDER BY r.review_year""", True),
    Query("hr_recent_leavers", "Who are the 10 most recent leavers?",
          """SELECT employee_id, first_name, termination_date FROM employees
ORDER BY termination_date DESC NULLS LAST, employee_id
LIMIT 10""", True),
    Query("hr_review_comments", "How many reviews have comments, counting blank comments separately?",
          """SELECT count(*) AS reviews, count(comments) AS with_comment_field,
       count(nullif(trim(comments), '')) AS with_real_comment,
       count(*) FILTER (WHERE comments IS NOT NULL AND trim(comments) = '') AS blank_comments
FROM performance_reviews""", False),
    Query("hr_head_salary_vs_department",
          "How does each department head's salary compare to their department's average?",
          """SELECT d.name, h.salary AS head_salary,
       (SELECT round(avg(e.salary),
       2) FROM employees e WHERE e.department_id = d.department_id AND e.employee_id <> h.employee_id) AS team_avg
FROM departments d JOIN employees h ON h.department_id = d.department_id AND h.manager_id = 1
ORDER BY d.name""", True),
    Query("hr_berlin_london_staff", "What do staff in Berlin- and London-based departments earn per month?",
          """SELECT E.Employee_Id, E.Last_Name, CAST(E.Salary / 12 AS NUMERIC(10,2)) AS Monthly_Salary
FROM Employees E
WHERE E.Department_Id IN (SELECT Department_Id FROM Departments WHERE Location IN ('Berlin', 'London'))
  AND E.Termination_Date IS NULL AND E.Salary >= 110000
ORDER BY Monthly_Salary DESC, E.Employee_Id""", True),
]
