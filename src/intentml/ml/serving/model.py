"""`LoadedModel`: a trained artifact loaded from disk, the one front of the serving parts.

It is built from four parts, each holding only the state it needs and made once at
load time: the `InputCodec` (rows into the feature matrix), the validators
(`InputValidator` for one row, `BatchValidator` for a batch, column by column), the
`OutputFormatter` (raw predictions into output fields) and the `Explainer`
(per-input contributions). `LoadedModel` runs the booster and composes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm as lgb
import msgspec
import numpy as np
import numpy.typing as npt

from intentml.ml.serving.batch import BatchValidator
from intentml.ml.serving.codec import InputCodec, RowBatch
from intentml.ml.serving.explain import Explainer
from intentml.ml.serving.meta import FORMAT_VERSION, META_FILE, MODEL_FILE, ModelMeta
from intentml.ml.serving.outputs import ExplainedItem, Item, OutputFormatter
from intentml.ml.serving.single_row import SingleRowPredictor
from intentml.ml.serving.validation import InputError, InputValidator, input_schema, sample_input

_ENCODER = msgspec.json.Encoder()


class LoadedModel:
    """A trained model ready to validate requests and predict."""

    def __init__(self, meta: ModelMeta, booster: lgb.Booster) -> None:
        self.meta = meta
        self.booster = booster
        self.validator = InputValidator(meta)
        self.codec = InputCodec(
            meta.inputs, [key for key, _ in self.validator.extra_keys], self.validator.invalid
        )
        self.batches = BatchValidator(self.validator, self.codec)
        self.outputs = OutputFormatter(meta)
        self.explainer = Explainer(
            meta, booster, self.codec.columns, self.codec.width, self.outputs.labels
        )
        self._single_row = SingleRowPredictor.create(booster, self.codec.width)

    @classmethod
    def load(cls, artifact_dir: Path) -> LoadedModel:
        """Load an artifact directory written by `intentml.ml.train.train`.

        Raises ValueError when the artifact is missing, of a newer format, or its
        booster does not match its metadata.
        """
        meta_path = artifact_dir / META_FILE
        model_path = artifact_dir / MODEL_FILE
        try:
            meta = msgspec.json.decode(meta_path.read_bytes(), type=ModelMeta)
        except FileNotFoundError as exc:
            raise ValueError(f"no model artifact at {artifact_dir} ({META_FILE} missing)") from exc
        except msgspec.DecodeError as exc:
            raise ValueError(f"{meta_path} is not valid model metadata: {exc}") from exc
        if meta.format_version > FORMAT_VERSION:
            raise ValueError(
                f"artifact format {meta.format_version} is newer than this server "
                f"understands ({FORMAT_VERSION})"
            )
        if not model_path.is_file():
            raise ValueError(f"no model artifact at {artifact_dir} ({MODEL_FILE} missing)")
        try:
            booster = lgb.Booster(model_file=str(model_path))
        except lgb.basic.LightGBMError as exc:
            raise ValueError(f"{model_path} is not a valid LightGBM model: {exc}") from exc
        model = cls(meta, booster)
        if booster.num_feature() != model.codec.width:
            raise ValueError(
                f"the booster expects {booster.num_feature()} features but the metadata "
                f"describes {model.codec.width}"
            )
        return model

    # ------------------------------------------------------------------ validation

    def validate(
        self, row: Mapping[str, Any], path_prefix: str = "", strict: bool = False
    ) -> tuple[list[InputError], list[str]]:
        """Check one request row: (errors, warnings).

        Errors: a required field absent, a value of the wrong JSON type (numbers as
        strings, booleans as numbers, ...), an unknown field. Warnings: fields the
        model ignores (dropped training columns, the target itself) and category
        values never seen in training (treated as missing; with `strict` such a value
        is an error instead). A field present with null is always allowed. Error
        fields are `path_prefix` + name, with a dot inserted unless the prefix ends in
        one ("[3]" → "[3].usage_minutes").
        """
        return self.validator.validate(row, path_prefix, strict)

    def validate_rows(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False
    ) -> tuple[list[InputError], list[str]]:
        """Check every row of a batch: (errors, warnings), as `validate` judges one row.

        Error fields are paths like `[3].usage_minutes` (a row that is not an object:
        `[3]`), in row order; at most `MAX_BATCH_ERRORS` are listed, then one entry
        with field `$` says how many more there were. Warnings that differ only in the
        row are reported once, naming the first rows and the count ("field
        'customer_id' is not used by the model and was ignored (rows [0], [1], [2], …
        10,000 rows)"); a warning of a single row reads as `validate` puts it.
        """
        return self.batches.validate_rows(rows, strict)

    def decode_batch(self, body: bytes) -> RowBatch | None:
        """A JSON array of row objects decoded straight into this model's row Struct.

        About twice as fast as decoding dicts, and the decoder checks each value's JSON
        type on the way. Returns None for anything it refuses (malformed JSON, an
        element that is not an object, an unknown field, a value of the wrong type):
        decoded as plain JSON instead, such a body gets the exact errors of the dict
        path from `validate_and_predict_rows`.
        """
        return self.codec.decode_batch(body)

    # ------------------------------------------------------------------ prediction

    def validate_and_predict_rows(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False
    ) -> tuple[list[InputError], list[str], list[dict[str, Any]] | None]:
        """`validate_rows`, then `predict_rows` if there are no errors, in one pass.

        Returns (errors, warnings, predictions); predictions is None when there are
        errors. The same results as the two calls, faster: the values each input
        gathers for validation are converted into the feature matrix right away.
        `rows` may be a `RowBatch` from `decode_batch`: the same results again.
        """
        errors, warnings, matrix = self.batches.validated_matrix(rows, strict)
        if matrix is None:
            return errors, warnings, None
        if not len(matrix):
            return errors, warnings, []
        return errors, warnings, self.outputs.format_many(self._predict(matrix))

    def validate_and_predict_json(
        self, rows: Sequence[Any] | RowBatch, strict: bool = False, explain: bool = False
    ) -> tuple[list[InputError], list[str], bytes | None]:
        """`validate_and_predict_rows` with the predictions as the `/predictions` answer.

        Returns (errors, warnings, JSON); the JSON, None when there are errors, is
        `[{"prediction": {...}}, ...]` in row order, each element with an `explanation`
        (see `explain_rows`) when `explain`. Encoded from per-model Structs: about half
        the time of building and encoding dicts.
        """
        errors, warnings, matrix = self.batches.validated_matrix(rows, strict)
        if matrix is None:
            return errors, warnings, None
        if not len(matrix):
            return errors, warnings, b"[]"
        predictions = self.outputs.predictions(self._predict(matrix))
        items: list[Any]
        if explain:
            items = list(map(ExplainedItem, predictions, self.explainer.explain(matrix)))
        else:
            items = list(map(Item, predictions))
        return errors, warnings, _ENCODER.encode(items)

    def predict_one(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Predict a single row (the low-latency path).

        The row should have passed `validate`; a value that cannot be converted
        raises `InvalidInput`. Absent fields and nulls are treated as missing.
        """
        vector = self.codec.checked_vector(row)
        if self._single_row is not None:
            return self.outputs.format(self._single_row.predict(vector))
        raw = self.booster.predict(np.array([vector], dtype=np.float64), num_threads=1)
        return self.outputs.format(np.asarray(raw)[0])

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Predict many rows with one call to LightGBM; same output as `predict_one`.

        The rows should have passed `validate_rows`; the first row with a value that
        cannot be converted raises `InvalidInput` (fields like `[3].usage_minutes`).
        """
        if not rows:
            return []
        return self.outputs.format_many(self._predict(self.codec.feature_matrix(rows)))

    def _predict(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(self.booster.predict(matrix))

    # ----------------------------------------------------------------- explanation

    def explain_one(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The explanation of one row's prediction (see `explain_rows`).

        The row should have passed `validate`; a value that cannot be converted
        raises `InvalidInput`.
        """
        vector = self.codec.checked_vector(row)
        return self.explainer.explain(np.array([vector], dtype=np.float64), threads=1)[0]

    def explain_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Why the model predicts what it does for each row: LightGBM's own contributions.

        Each explanation splits the model's raw score for the row into a `base_value`
        (the same for every row: the average raw score over the training data) plus one
        contribution per input field (`contributions`, in input order; a date's parts
        are summed into its field); `raw_score` is their sum. These are LightGBM's
        `pred_contrib` values (TreeSHAP). `scale` says what the raw score is:

        - `log_odds` (binary): of `positive_class`; the probability is
          1 / (1 + exp(-raw_score));
        - `value` (regression): the predicted value itself;
        - `logit` (multiclass): `classes` holds one such split per class (keyed by the
          class label); the probabilities are the softmax of the classes' raw scores.

        (`log` would be a regression whose prediction is exp(raw_score).) The rows
        should have passed `validate_rows`, as for `predict_rows`.
        """
        if not rows:
            return []
        return self.explainer.explain(self.codec.feature_matrix(rows))

    # --------------------------------------------------------------- description

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """The feature matrix LightGBM sees for `rows` (for checks and debugging)."""
        return self.codec.matrix(rows)

    def sample_input(self) -> dict[str, Any]:
        """A typical valid request row: the training medians and most frequent values."""
        return sample_input(self.meta)

    def input_schema(self) -> dict[str, Any]:
        """JSON Schema of one request row.

        Category values seen in training are listed as `examples`, not `enum`: an
        unseen value is accepted (with a warning). Fields the model ignores are listed
        without a type so clients that send whole records stay valid.
        """
        return input_schema(self.meta)

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema of one prediction."""
        return self.outputs.schema()
