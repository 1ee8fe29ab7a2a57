"""The models a walk-forward run may fit: a whitelist, each with its checked hyperparameters.

A model is named by ``kind`` and takes only the hyperparameters listed for it (anything else is
refused, naming the field). Every library gets the run's seed and thread count, and the
libraries' own nondeterminism is switched off (LightGBM ``deterministic``, row-wise histograms;
XGBoost's ``hist`` method; scikit-learn's ``random_state``), so one configuration on the same
bars gives the same predictions. Linear models impute missing features with the training
window's median and scale with its moments; tree models read NaN as missing themselves.

The libraries are imported when a model is built, so the rest of the research tools work
without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from backend.research.simulator.requests import first_error

Task = Literal["regression", "classification"]
PACKAGES: Final = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu", "sklearn": "scikit-learn"}


def _library(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ValueError(f"model: this model needs the {PACKAGES[top]} package (pip install "
                         f"{PACKAGES[top]})") from None


class SpecBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def task(self) -> Task:
        kind: str = getattr(self, "kind")  # noqa: B009 (each subclass declares it)
        return "classification" if kind.endswith("classifier") or kind == "logistic" else "regression"

    def build(self, *, seed: int, threads: int) -> Any:
        raise NotImplementedError


class LightGBMSpec(SpecBase):
    kind: Literal["lightgbm_regressor", "lightgbm_classifier"]
    n_estimators: int = Field(200, ge=1, le=5_000)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0, allow_inf_nan=False)
    num_leaves: int = Field(31, ge=2, le=1_024)
    max_depth: int = Field(-1, ge=-1, le=64)
    min_child_samples: int = Field(20, ge=1, le=100_000)
    subsample: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    subsample_freq: int = Field(0, ge=0, le=100)
    colsample_bytree: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    reg_alpha: float = Field(0.0, ge=0.0, le=1e6, allow_inf_nan=False)
    reg_lambda: float = Field(0.0, ge=0.0, le=1e6, allow_inf_nan=False)

    def build(self, *, seed: int, threads: int) -> Any:
        lgb = _library("lightgbm")
        cls = lgb.LGBMClassifier if self.task == "classification" else lgb.LGBMRegressor
        return cls(**self.model_dump(exclude={"kind"}), random_state=seed, n_jobs=threads, deterministic=True,
                   force_row_wise=True, importance_type="gain", verbose=-1)


class XGBoostSpec(SpecBase):
    kind: Literal["xgboost_regressor", "xgboost_classifier"]
    n_estimators: int = Field(200, ge=1, le=5_000)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0, allow_inf_nan=False)
    max_depth: int = Field(6, ge=1, le=32)
    min_child_weight: float = Field(1.0, ge=0.0, le=1e6, allow_inf_nan=False)
    subsample: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    colsample_bytree: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    reg_alpha: float = Field(0.0, ge=0.0, le=1e6, allow_inf_nan=False)
    reg_lambda: float = Field(1.0, ge=0.0, le=1e6, allow_inf_nan=False)

    def build(self, *, seed: int, threads: int) -> Any:
        xgb = _library("xgboost")
        cls = xgb.XGBClassifier if self.task == "classification" else xgb.XGBRegressor
        return cls(**self.model_dump(exclude={"kind"}), random_state=seed, n_jobs=threads, tree_method="hist",
                   importance_type="gain")


class HistGradientBoostingSpec(SpecBase):
    kind: Literal["hist_gradient_boosting_regressor", "hist_gradient_boosting_classifier"]
    max_iter: int = Field(200, ge=1, le=5_000)
    learning_rate: float = Field(0.05, gt=0.0, le=1.0, allow_inf_nan=False)
    max_leaf_nodes: int = Field(31, ge=2, le=1_024)
    max_depth: int | None = Field(None, ge=1, le=64)
    min_samples_leaf: int = Field(20, ge=1, le=100_000)
    l2_regularization: float = Field(0.0, ge=0.0, le=1e6, allow_inf_nan=False)

    def build(self, *, seed: int, threads: int) -> Any:
        ensemble = _library("sklearn.ensemble")
        cls = (ensemble.HistGradientBoostingClassifier if self.task == "classification"
               else ensemble.HistGradientBoostingRegressor)
        # early stopping would hold out a random tenth of the training window: the folds already
        # say which bars validate, so every training bar trains
        return cls(**self.model_dump(exclude={"kind"}), early_stopping=False, random_state=seed)


class RidgeSpec(SpecBase):
    kind: Literal["ridge"]
    alpha: float = Field(1.0, ge=0.0, le=1e9, allow_inf_nan=False)

    def build(self, *, seed: int, threads: int) -> Any:
        linear = _library("sklearn.linear_model")
        return _linear_pipeline(linear.Ridge(alpha=self.alpha))


class LogisticSpec(SpecBase):
    kind: Literal["logistic"]
    C: float = Field(1.0, gt=0.0, le=1e9, allow_inf_nan=False)
    max_iter: int = Field(200, ge=10, le=10_000)

    def build(self, *, seed: int, threads: int) -> Any:
        linear = _library("sklearn.linear_model")
        return _linear_pipeline(linear.LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=seed))


def _linear_pipeline(model: Any) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # keep_empty_features: a feature missing all through one training window keeps its column,
    # so the coefficients still line up with the feature names
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), model)


ModelSpec = Annotated[LightGBMSpec | XGBoostSpec | HistGradientBoostingSpec | RidgeSpec | LogisticSpec,
                      Field(discriminator="kind")]
MODEL_KINDS: Final = ("lightgbm_regressor", "lightgbm_classifier", "xgboost_regressor", "xgboost_classifier",
                      "hist_gradient_boosting_regressor", "hist_gradient_boosting_classifier", "ridge", "logistic")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(ModelSpec)


def parse_model(raw: Any) -> SpecBase:
    """``raw`` (a mapping with ``kind``) as a model spec, or a ``ValueError`` naming each bad field."""
    if isinstance(raw, SpecBase):
        return raw
    if not isinstance(raw, dict) or raw.get("kind") not in MODEL_KINDS:
        kind = raw.get("kind") if isinstance(raw, dict) else None
        raise ValueError(f"model.kind: one of {', '.join(MODEL_KINDS)}, got {str(kind)[:40]!r}")
    try:
        spec: SpecBase = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise ValueError(first_error(exc, "model")) from None
    return spec


@dataclass
class Fitted:
    """A model fitted on one training window."""

    spec: SpecBase
    estimator: Any
    classes: np.ndarray | None

    def score(self, x: np.ndarray) -> np.ndarray:
        """One number per row, higher meaning a higher expected return: the prediction of a
        regressor, the probability of the up class (two classes) or the expected class (more)."""
        if self.classes is None:
            return np.asarray(self.estimator.predict(x), dtype=np.float64)
        proba = self.probabilities(x)
        if len(self.classes) == 2:
            return proba[:, 1]
        return proba @ self.classes.astype(np.float64)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(x), dtype=np.float64)

    def importances(self, features: list[str]) -> dict[str, float] | None:
        """Each feature's share of the model's importance (gain for trees, |coefficient| on the
        scaled features for linear models); None where the library reports none."""
        estimator = self.estimator
        raw: np.ndarray | None = None
        if hasattr(estimator, "steps"):
            coef = np.abs(np.asarray(estimator.steps[-1][1].coef_, dtype=np.float64))
            raw = coef.mean(axis=0) if coef.ndim == 2 else coef
        elif hasattr(estimator, "feature_importances_"):
            raw = np.asarray(estimator.feature_importances_, dtype=np.float64)
        if raw is None or raw.shape != (len(features),):
            return None
        total = float(np.nansum(raw))
        shares = raw / total if total > 0 else np.zeros_like(raw)
        return {name: float(v) if np.isfinite(v) else 0.0 for name, v in zip(features, shares, strict=True)}


def fit(spec: SpecBase, x: np.ndarray, y: np.ndarray, *, seed: int, threads: int) -> Fitted:
    """``spec`` built with ``seed`` and ``threads`` and fitted on (x, y); thread pools the library
    does not take a count for (OpenMP in scikit-learn, BLAS) are held to ``threads`` too."""
    from threadpoolctl import threadpool_limits

    estimator = spec.build(seed=seed, threads=threads)
    classes = None
    target = y
    if spec.task == "classification":
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("target: the training window holds one class only")
        # XGBoost wants classes numbered 0 … k−1; the labels are mapped back by ``classes``
        target = np.searchsorted(classes, y)
    with threadpool_limits(limits=threads):
        estimator.fit(x, target)
    return Fitted(spec, estimator, classes)


def predict(fitted: Fitted, x: np.ndarray, *, threads: int) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return fitted.score(x)


__all__ = ["MODEL_KINDS", "Fitted", "HistGradientBoostingSpec", "LightGBMSpec", "LogisticSpec", "ModelSpec",
           "RidgeSpec", "SpecBase", "XGBoostSpec", "fit", "parse_model", "predict"]
