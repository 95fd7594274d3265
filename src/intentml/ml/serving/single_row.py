"""LightGBM's fast single-row C API (`SingleRowPredictor`), through ctypes."""

from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Any

import lightgbm as lgb
import numpy as np

#: LightGBM's loaded C library (not re-exported by its typing).
_LGBM_LIB: Any = vars(lgb.basic)["_LIB"]


class SingleRowPredictor:
    """LightGBM's fast single-row C API, set up once per model.

    `Booster.predict` builds a predictor and converts its input on every call:
    ~45 µs for one row. `LGBM_BoosterPredictForMatSingleRowFast` reuses a
    configuration made once: ~7 µs, the same numbers. Its buffers belong to the
    configuration, so calls are serialized (uncontended on the event loop).
    """

    def __init__(self, booster: lgb.Booster, width: int, handle: ctypes.c_void_p) -> None:
        self._handle = handle
        self._outputs = booster.num_model_per_iteration()
        self._out = np.zeros(self._outputs, dtype=np.float64)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._width = width
        self._lock = threading.Lock()
        self._booster = booster  # the configuration points into it: keep it alive

    @classmethod
    def create(cls, booster: lgb.Booster, width: int) -> SingleRowPredictor | None:
        """A predictor for `booster`, or None where this LightGBM build lacks the API."""
        lib = _LGBM_LIB
        # The iterations Booster.predict would use by default.
        iterations = booster.best_iteration if booster.best_iteration > 0 else -1
        handle = ctypes.c_void_p()
        try:
            status = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(0),  # C_API_PREDICT_NORMAL
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(iterations),
                ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                ctypes.c_int32(width),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
        except AttributeError:
            return None
        return cls(booster, width, handle) if status == 0 else None

    def predict(self, vector: list[float]) -> Any:
        """The raw prediction of one feature vector, as `Booster.predict(...)[0]` gives it."""
        row = np.asarray(vector, dtype=np.float64)
        if row.shape != (self._width,):
            raise ValueError(f"expected {self._width} features, got {row.shape}")
        with self._lock:
            status = _LGBM_LIB.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self._out_len),
                self._out_ptr,
            )
            if status != 0:
                raise lgb.basic.LightGBMError(_LGBM_LIB.LGBM_GetLastError().decode())
            return float(self._out[0]) if self._outputs == 1 else self._out.copy()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _LGBM_LIB.LGBM_FastConfigFree(self._handle)
