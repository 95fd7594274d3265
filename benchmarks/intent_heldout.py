"""The held-out fifth of the intent benchmark: written before the resolver was tuned,
and scored once at the end. Do not tune against these cases.

Each case: (dataset, intent as a user would write it, the column a person would pick).
"""

from __future__ import annotations

HELD_OUT: list[tuple[str, str, str]] = [
    ("stroke", "Which patients are likely to have a stroke?", "stroke"),
    ("stroke", "Estimate the risk of stroke for a patient", "stroke"),
    ("spaceship", "Which passengers were transported to another dimension?", "Transported"),
    ("spaceship", "Predict whether a passenger gets transported", "Transported"),
    ("airline", "Will a passenger be satisfied with the flight?", "satisfaction"),
    ("airline", "How satisfied are our passengers?", "satisfaction"),
    ("airline", "How long will the arrival be delayed?", "Arrival Delay in Minutes"),
    ("pima", "Does this woman have diabetes?", "Outcome"),
    ("telco", "Is this customer about to cancel their subscription?", "Churn"),
    ("bank_churn", "Will this bank customer close their account?", "Exited"),
    ("adult", "Does this person make over 50K a year?", "income"),
    ("mushrooms", "Can I eat this mushroom or is it poisonous?", "class"),
    ("diamonds", "How much does a diamond cost?", "price"),
    ("flights", "Predict how many minutes late a flight departs", "dep_delay"),
    ("co2", "How much CO2 does this car emit?", "CO2 Emissions(g/km)"),
    ("movies", "How much money will a film make?", "gross"),
    ("hr", "Which employees are likely to leave the company?", "Attrition"),
    ("house_prices", "What price will a home sell at?", "SalePrice"),
    ("bike_hour", "How many bikes will be rented in an hour?", "cnt"),
    ("wine", "Rate the wine's quality from its chemistry", "quality"),
    ("penguins", "What species is this penguin?", "species"),
    ("car_dekho", "What price can I get for my used car?", "Selling_Price"),
    ("loan", "Will the bank approve this loan application?", "Loan_Status"),
    ("insurance", "How much will this person's medical bills be?", "charges"),
]
