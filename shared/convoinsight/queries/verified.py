"""What an answer's ``verified`` promises, in the words the OpenAPI document and the README give it.

Kept beside the grounding check it describes, so the promise and the code that keeps it change together.
"""

from __future__ import annotations

VERIFIED = (
    "true: every number written in the analysis and in the answer's prose equals, within the rounding it is "
    "written with, a cell of the complete query result, a statistic the engine computed over all of its rows "
    "(row count, a measure's total, minimum, maximum, mean or median, a largest group's share, a first-to-last "
    "change, a distinct count), or one derivation of them (a share, difference, ratio or percent change), or is "
    "a count, rank, year, date or label the result or the question holds. Figures of only the displayed rows of "
    "a truncated result do not count. false: some number did not (removed from the analysis, or listed under "
    "the answer). null: no table (a chat answer). It does not say the SQL answers the question, nor that a "
    "sentence reads a true number rightly."
)

# The sync answer's JSON, as far as the OpenAPI document describes it (the README's "The answer" lists every
# field); the other fields are left open so that adding one never breaks a client validating against it.
ANSWER_SCHEMA = {
    "type": "object",
    "description": "The answer: `answer`, `sql`, `sql_status`, `table`, `chart`, `insights`, `follow_ups`, "
                   "`verified`, `usage`, `timings` (README, \"The answer\").",
    "properties": {
        "verified": {"type": ["boolean", "null"], "description": VERIFIED},
    },
}
