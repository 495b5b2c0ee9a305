"""What every inference backend receives and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from harness.evaluation.collaborative_decoding import AnswerBias
from harness.evaluation.config import EvalConfig
from harness.evaluation.soft_scoring import SoftScore

__all__ = ["Backend", "GenerationRequest", "GenerationResult", "Tokenizer"]


@dataclass(frozen=True)
class GenerationRequest:
    id: str
    messages: list[
        dict[str, Any]
    ]  # manifest-style messages (``<image>`` placeholders), system prompt applied
    image: Image.Image
    # Collaborative decoding for this image (None: decode without the expert). Built by the runner
    # from the expert's probability and the backend's token ids.
    answer_bias: AnswerBias | None = None


@dataclass(frozen=True)
class GenerationResult:
    text: str  # generated text only (the response prefix is added by the runner)
    num_generated_tokens: int | None = None
    soft_score: SoftScore | None = None


class Tokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = ...) -> str: ...


class Backend(Protocol):
    """Loads a model once; answers a batch of requests."""

    def __init__(self, model: str, config: EvalConfig) -> None: ...

    @property
    def tokenizer(self) -> Tokenizer | None:
        """The model's tokenizer when the backend has one locally (soft scoring, collaborative decoding)."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...

    def close(self) -> None: ...
