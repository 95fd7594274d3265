"""The held-out fifth of the intent benchmark: written before the resolver was tuned,
and scored once at the end. Do not tune against these cases.

This is the third held-out set: the first two (24 and 30 cases) were each scored
once, reported in the README, and moved into the tuning set. These 31 cases are
over 27 tables the tuning set does not use, with their column names as published.

Each case: (dataset, intent as a user would write it, the column a person would pick).
"""

from __future__ import annotations

HELD_OUT: list[tuple[str, str, str]] = [
    ("car_eval", "How acceptable is this car to a buyer?", "class"),
    ("nursery", "Should this family's application to the nursery be recommended?", "class"),
    ("banknote", "Is this banknote genuine or forged?", "class"),
    ("sonar", "Is the object a mine or a rock?", "Class"),
    ("ionosphere", "Is this radar return good or bad?", "class"),
    ("glass", "What type of glass is this fragment?", "Type"),
    ("yeast", "Where in the cell does this protein localize?", "class_protein_localization"),
    ("wine_cultivar", "Which cultivar does this wine come from?", "target"),
    ("parkinsons", "Does this patient have Parkinson's?", "status"),
    ("bupa_liver", "How many drinks does a person have a day?", "drinks"),
    ("hepatitis", "Will a hepatitis patient live or die?", "Class"),
    ("life_expectancy", "How long do people live in each country?", "Life expectancy "),
    ("life_expectancy", "Predict adult mortality", "Adult Mortality"),
    ("happiness", "How happy is a country?", "Happiness Score"),
    ("london_bike", "How many bikes will be hired in London each hour?", "cnt"),
    ("uber", "How much will an Uber ride cost?", "fare_amount"),
    ("student_alcohol", "How much alcohol does a student drink on weekends?", "Walc"),
    ("promotion", "Which employees will get promoted?", "is_promoted"),
    ("cross_sell", "Will a customer be interested in vehicle insurance?", "Response"),
    ("wine_reviews", "How many points will a wine get from reviewers?", "points"),
    ("wine_reviews", "What does a bottle cost?", "price"),
    ("used_cars", "How much is this used car worth?", "price"),
    ("paysim", "Which transactions are fraud?", "isFraud"),
    ("bank_churners", "Which credit card customers are going to churn?", "Attrition_Flag"),
    ("bank_churners", "What credit limit will a customer get?", "Credit_Limit"),
    ("walmart", "Forecast weekly sales for each store", "Weekly_Sales"),
    ("rossmann", "How many customers will visit a store each day?", "Customers"),
    ("spotify", "How popular will a song be?", "popularity"),
    ("diabetes_readmit", "Will this patient be readmitted to hospital?", "readmitted"),
    ("framingham", "Who will develop coronary heart disease within ten years?", "TenYearCHD"),
    ("happiness", "Predict the happiness score of a country", "Happiness Score"),
]
