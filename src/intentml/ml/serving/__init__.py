"""Loading a trained artifact and answering predictions: the inference hot path.

An artifact directory holds `model.txt` (the LightGBM booster) and `meta.json`
(`ModelMeta`: the inputs, category codes, classes and output fields). Requests are
plain mappings decoded from JSON; they are turned into a float64 matrix by
per-field converters built once at load time, so serving needs neither pandas nor
any per-request schema work.

Batches go column by column: each input's values are gathered once, checked with
set and numpy operations and converted in bulk, and predictions are assembled from
numpy columns; only rows that look wrong are looked at one by one. The answers are
the row-by-row ones (`validate`, `predict_one`), which the tests hold them to.

What is where:

- `meta`: `FeatureSpec`, `ModelMeta`, the artifact constants, the matrix layout,
  date and date-time parts, typed class labels.
- `validation`: `InputError`, `InvalidInput`, per-value type checks, warning texts,
  the batch report, the single-row checks (`InputValidator`), the input schema.
- `codec`: rows into feature vectors and matrices (`InputCodec`), and the per-model
  row Struct JSON decoding (`RowCodec`, `RowBatch`).
- `batch`: the column-wise batch checks that fill the matrix on the way
  (`BatchValidator`).
- `explain`: per-input contributions (`Explainer`).
- `outputs`: the fields an artifact serves (`served_outputs`), prediction formatting
  (`OutputFormatter`), the output schema.
- `single_row`: `SingleRowPredictor`, LightGBM's fast single-row C API via ctypes.
- `model`: `LoadedModel`, the one front that composes the parts, and loading from disk.
"""

from intentml.ml.serving.codec import RowBatch
from intentml.ml.serving.meta import (
    DATE_PARTS,
    DATETIME_PARTS,
    FORMAT_VERSION,
    INPUT_KINDS,
    META_FILE,
    MODEL_FILE,
    RISK_LEVELS,
    FeatureSpec,
    ModelMeta,
    date_features,
    datetime_features,
    expanded_columns,
    matrix_layout,
    parse_when,
    typed_label,
)
from intentml.ml.serving.model import LoadedModel
from intentml.ml.serving.outputs import served_outputs
from intentml.ml.serving.single_row import SingleRowPredictor
from intentml.ml.serving.validation import MAX_BATCH_ERRORS, InputError, InvalidInput

__all__ = [
    "DATETIME_PARTS",
    "DATE_PARTS",
    "FORMAT_VERSION",
    "INPUT_KINDS",
    "MAX_BATCH_ERRORS",
    "META_FILE",
    "MODEL_FILE",
    "RISK_LEVELS",
    "FeatureSpec",
    "InputError",
    "InvalidInput",
    "LoadedModel",
    "ModelMeta",
    "RowBatch",
    "SingleRowPredictor",
    "date_features",
    "datetime_features",
    "expanded_columns",
    "matrix_layout",
    "parse_when",
    "served_outputs",
    "typed_label",
]
