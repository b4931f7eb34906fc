"""An OpenFeature provider over :class:`~weir.experiments.evaluate.Evaluator`: applications call the standard
flag API (``client.get_boolean_value("instant_payout", False, EvaluationContext("u1", {"country": "KE"}))``)
and get Weir's assignment. The context's ``targeting_key`` is the entity key that is hashed; its attributes
are the plain attributes rules may name. ``variant`` and ``reason`` (OpenFeature's reasons) are in the details;
on any error the caller's default comes back with an error code, never an exception.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from weir.experiments.evaluate import Evaluator, UnknownDeclaration

T = TypeVar("T")


class WeirProvider(AbstractProvider):
    def __init__(self, evaluator: Evaluator) -> None:
        super().__init__()
        self.evaluator = evaluator

    def get_metadata(self) -> Metadata:
        return Metadata(name="weir")

    def _resolve(self, flag_key: str, default: T, context: EvaluationContext | None,
                 types: tuple[type, ...]) -> FlagResolutionDetails[T]:
        key = context.targeting_key if context is not None else None
        if not key:
            return FlagResolutionDetails(default, ErrorCode.TARGETING_KEY_MISSING,
                                         "set the evaluation context's targeting_key to the entity key",
                                         Reason.ERROR)
        try:
            a = self.evaluator.evaluate(flag_key, str(key), dict(context.attributes) if context else None)
        except UnknownDeclaration as exc:
            return FlagResolutionDetails(default, ErrorCode.FLAG_NOT_FOUND, str(exc.args[0]), Reason.ERROR)
        value: Any = a.value
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return FlagResolutionDetails(default, ErrorCode.TYPE_MISMATCH,
                                         f"'{flag_key}' variant '{a.variant}' has value {value!r}, not "
                                         f"{'/'.join(t.__name__ for t in types)}", Reason.ERROR, a.variant)
        metadata: dict[str, bool | int | float | str] = {"assigned": a.assigned}
        if a.detail:
            metadata["detail"] = a.detail
        value = cast(T, value)
        if a.reason == "ERROR":
            return FlagResolutionDetails(value, ErrorCode.GENERAL, a.detail, Reason.ERROR, a.variant, metadata)
        return FlagResolutionDetails(value, None, None, a.reason, a.variant, metadata)

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, (bool,))

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, (str,))

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, (int,))

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        details = self._resolve(flag_key, default_value, evaluation_context, (int, float))
        details.value = float(details.value)
        return details

    def resolve_object_details(self, flag_key: str, default_value: Any,
                               evaluation_context: EvaluationContext | None = None
                               ) -> FlagResolutionDetails[Any]:
        return self._resolve(flag_key, default_value, evaluation_context, (bool, int, float, str))
