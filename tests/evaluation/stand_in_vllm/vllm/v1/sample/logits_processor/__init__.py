"""Stand-in for vLLM 0.24.0's logits-processor interface and loader (see ../../../../README.md)."""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from functools import partial
from typing import Any


class LogitsProcessor(ABC):
    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        return None

    @abstractmethod
    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None: ...

    @abstractmethod
    def apply(self, logits: Any) -> Any: ...

    @abstractmethod
    def is_argmax_invariant(self) -> bool: ...


class AdapterLogitsProcessor(LogitsProcessor):
    """Per-request callables (output_ids, logits) -> logits, applied row by row."""

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        self.req_info: dict[int, Any] = {}

    @abstractmethod
    def new_req_logits_processor(self, params: Any) -> Any: ...

    def add_request(self, index: int, params: Any, prompt_ids: list[int], output_ids: list[int]) -> None:
        """What vLLM's update_state does for a request added to the batch."""
        processor = self.new_req_logits_processor(params)
        if not processor:
            return
        # vLLM passes the prompt ids too when the callable takes three arguments.
        takes_prompt = len(inspect.signature(processor).parameters) == 3
        args = [prompt_ids, output_ids] if takes_prompt else [output_ids]
        self.req_info[index] = partial(processor, *args)  # output_ids keeps growing in place

    def apply(self, logits: Any) -> Any:
        for index, processor in self.req_info.items():
            logits[index] = processor(logits[index])
        return logits


def load_by_fqcns(names: list[Any]) -> list[type]:
    """vLLM's rule for `logits_processors` entries: classes pass, `module:Qual.Name` strings load."""
    classes = []
    for entry in names:
        if isinstance(entry, type):
            obj = entry
        else:
            module_path, qualname = entry.split(":")
            obj = importlib.import_module(module_path)
            for attribute in qualname.split("."):
                obj = getattr(obj, attribute)
            if not isinstance(obj, type):
                raise ValueError("Loaded logit processor must be a type.")
        if not issubclass(obj, LogitsProcessor):
            raise ValueError(f"{obj.__name__} must be a subclass of LogitsProcessor")
        classes.append(obj)
    return classes
