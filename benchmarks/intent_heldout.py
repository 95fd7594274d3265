"""The held-out fifth of the intent benchmark: written before the resolver was tuned,
and scored once at the end. Do not tune against these cases.

This is the second held-out set: the first (24 cases) was scored, reported in the
README, and moved into the tuning set. These cases are mostly over tables the
resolver had not seen, with their column names as published.

Each case: (dataset, intent as a user would write it, the column a person would pick).
"""

from __future__ import annotations

HELD_OUT: list[tuple[str, str, str]] = [
    ("students", "What final grade will a student get?", "G3"),
    ("abalone", "How many rings does an abalone have?", "Rings"),
    ("abalone", "Predict the age of abalone from physical measurements", "Rings"),
    ("fremtpl", "How many claims will a policyholder make?", "ClaimNb"),
    ("lending_club", "Which borrowers will default on their loan?", "loan_status"),
    (
        "heart_failure",
        "Will this heart failure patient die during the follow-up period?",
        "DEATH_EVENT",
    ),
    ("airbnb", "What nightly price should I set for my listing?", "price"),
    ("taxi", "How much will the passenger tip the driver?", "tip_amount"),
    ("taxi", "Estimate the fare for a taxi ride", "fare_amount"),
    ("shoppers", "Will this visitor end up buying something?", "Revenue"),
    ("shoppers", "Which online sessions lead to a purchase?", "Revenue"),
    ("seoul_bike", "How many bikes will be rented each hour?", "Rented Bike Count"),
    (
        "concrete",
        "How strong will the concrete be after curing?",
        "Concrete compressive strength(MPa, megapascals)",
    ),
    ("energy", "Estimate the heating load of a building", "Heating Load"),
    ("dropout", "Which students will drop out?", "Target"),
    ("marketing", "Will a customer respond to the next campaign?", "Response"),
    ("avocado", "What will the average price of avocados be?", "AveragePrice"),
    ("avocado", "How much will avocados cost next week?", "AveragePrice"),
    ("forest_fires", "How much area will a forest fire burn?", "area"),
    ("cervical", "Predict the biopsy result", "Biopsy"),
    ("us_accidents", "How severe will this accident be?", "Severity"),
    ("spam", "Is this email spam?", "class"),
    ("credit_g", "Is this applicant a good or bad credit risk?", "class"),
    ("kickstarter", "Will this Kickstarter project be successful?", "state"),
    ("mobile", "Which price range does this phone fall into?", "price_range"),
    ("titanic", "Who lived and who died on the Titanic?", "Survived"),
    ("hotel", "Estimate the chance that a reservation gets cancelled", "is_canceled"),
    ("bank_marketing", "Which customers will sign up for a term deposit?", "y"),
    ("bike_kaggle", "How many bikes will people rent per hour?", "count"),
    ("flights", "How many minutes early or late will a flight land?", "arr_delay"),
]
