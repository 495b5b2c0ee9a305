"""Token soft-scoring: a probability of ``fake`` from the logits of the answer tokens (seed 003 eq. 2).

At the position where the model states its verdict, take the logits z of the anchor tokens of
each class (``fake`` and ``real`` with their case variants, 003 §IV-B) and compute

    eq. 2 (as printed):  p_j = exp(sum_{v in variants_j} z_v) / sum_k exp(sum_{v in variants_k} z_v)
    logsumexp variant:   p_j = exp(logsumexp_{v in variants_j} z_v) / sum_k exp(logsumexp_{v in variants_k} z_v)

Eq. 2 sums raw logits over variants (seeds.md §5.13: unusual, since summed logits are not the
log-probability of the merged class); the logsumexp variant is the probability mass of the class
within the anchor tokens. Both are reported; AP and AUC use eq. 2. Eq. 2 is not invariant to a
constant shift of the logits when the classes have different numbers of variants, so it must be
fed logits, not log-probabilities (the vLLM backend asks for raw logits for this reason).

A variant counts only if the tokenizer spells it as one token (a multi-token variant has no single
logit) unless ``multi_token_variants="first_token"``; both classes must keep at least one token
and no token may belong to both.

A Qwen2-style byte-level BPE pre-tokenizes a word together with the one punctuation character before
it: after ``answer_after="<verdict>"`` the answer ``<verdict>fake`` may be the tokens ``<verdict`` and
``>fake``, and neither ``fake`` nor `` fake`` is ever generated there. When ``answer_after`` ends with
such a character, its glued spellings (``>fake``, ``>real``) that are single tokens are anchors too,
compared with each other at a position where the model wrote one (both classes needed): the verdict
is decided at that token.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.evaluation.collaborative_decoding import AnswerBias, bias_at_step

__all__ = [
    "AnchorTokens",
    "SoftScore",
    "answer_soft_score",
    "eq2_probability_fake",
    "find_answer_position",
    "logsumexp_probability_fake",
    "resolve_anchor_tokens",
    "soft_score",
]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(v - top) for v in values))


def eq2_probability_fake(fake_logits: Sequence[float], real_logits: Sequence[float]) -> float:
    """003 eq. 2 for the ``fake`` class: softmax over the two sums of variant logits."""
    if not fake_logits or not real_logits:
        raise ValueError("eq. 2 needs at least one logit of each class")
    fake, real = math.fsum(fake_logits), math.fsum(real_logits)
    if fake == real == -math.inf:  # both classes masked out: no preference
        return 0.5
    # softmax over two values = sigmoid of their difference (no overflow for large logits)
    return _sigmoid(fake - real)


def logsumexp_probability_fake(fake_logits: Sequence[float], real_logits: Sequence[float]) -> float:
    """Probability mass of the ``fake`` variants among all anchor tokens."""
    if not fake_logits or not real_logits:
        raise ValueError("needs at least one logit of each class")
    fake, real = _logsumexp(fake_logits), _logsumexp(real_logits)
    if fake == real == -math.inf:
        return 0.5
    return _sigmoid(fake - real)


@dataclass(frozen=True)
class AnchorTokens:
    fake_ids: tuple[int, ...]
    real_ids: tuple[int, ...]
    skipped: tuple[str, ...] = ()  # variants spelled with several tokens
    # The words glued to the character `answer_after` ends with (">fake"), where single tokens.
    glued_fake_ids: tuple[int, ...] = ()
    glued_real_ids: tuple[int, ...] = ()

    @property
    def all_ids(self) -> tuple[int, ...]:
        """Every anchor id, glued ones included: the ids whose logits a backend records per step."""
        return self.fake_ids + self.real_ids + self.glued_fake_ids + self.glued_real_ids

    @property
    def glued_ids(self) -> frozenset[int]:
        return frozenset(self.glued_fake_ids + self.glued_real_ids)

    def compared_at(self, token_id: int | None) -> AnchorTokens:
        """The classes eq. 2 compares where the model wrote ``token_id``: the glued spellings at a
        glued anchor, else the plain ones."""
        if token_id is not None and token_id in self.glued_ids:
            return AnchorTokens(fake_ids=self.glued_fake_ids, real_ids=self.glued_real_ids)
        return AnchorTokens(fake_ids=self.fake_ids, real_ids=self.real_ids, skipped=self.skipped)


def resolve_anchor_tokens(
    tokenizer: Any,
    fake_words: Sequence[str],
    real_words: Sequence[str],
    multi_token_variants: str = "skip",
    answer_after: str | None = None,
) -> AnchorTokens:
    """Token ids of the anchor words, each with and without a leading space (how it follows a word),
    and glued to the punctuation ``answer_after`` ends with (module docstring)."""
    skipped: list[str] = []
    unknown = getattr(tokenizer, "unk_token_id", None)

    def ids_of(words: Sequence[str]) -> tuple[int, ...]:
        found: list[int] = []
        for word in words:
            for spelling in (word, " " + word):
                ids = list(tokenizer.encode(spelling, add_special_tokens=False))
                if ids and unknown is not None and ids[0] == unknown:
                    skipped.append(spelling)  # the tokenizer does not know the word at all
                elif len(ids) == 1 or (ids and multi_token_variants == "first_token"):
                    if ids[0] not in found:
                        found.append(ids[0])
                else:
                    skipped.append(spelling)
        return tuple(found)

    fake_ids, real_ids = ids_of(fake_words), ids_of(real_words)
    if not fake_ids or not real_ids:
        empty = "fake" if not fake_ids else "real"
        raise ValueError(
            f"no anchor word of the {empty} class is a single token in this tokenizer "
            f"(tried {', '.join(repr(s) for s in skipped)}); add a variant that is, or set "
            f"soft_scoring.multi_token_variants=first_token"
        )
    shared = set(fake_ids) & set(real_ids)
    if shared:
        raise ValueError(
            f"token ids {sorted(shared)} stand for both fake and real anchor words; "
            f"the classes must be told apart by their tokens"
        )
    glued_fake, glued_real = (
        _glued_ids(tokenizer, fake_words, answer_after),
        _glued_ids(tokenizer, real_words, answer_after),
    )
    plain = set(fake_ids + real_ids)
    glued_fake = tuple(i for i in glued_fake if i not in plain)
    glued_real = tuple(i for i in glued_real if i not in plain)
    if not glued_fake or not glued_real or set(glued_fake) & set(glued_real):
        glued_fake = glued_real = ()  # nothing to compare a glued verdict with
    return AnchorTokens(
        fake_ids=fake_ids,
        real_ids=real_ids,
        skipped=tuple(skipped),
        glued_fake_ids=glued_fake,
        glued_real_ids=glued_real,
    )


def _glued_ids(tokenizer: Any, words: Sequence[str], answer_after: str | None) -> tuple[int, ...]:
    """Single-token spellings of ``words`` after the punctuation ``answer_after`` ends with."""
    glue = (answer_after or "")[-1:]
    # Qwen2's pattern `[^\r\n\p{L}\p{N}]?\p{L}+`: any one character but a letter, digit or line break
    if not glue or glue.isalnum() or glue.isspace():
        return ()
    unknown = getattr(tokenizer, "unk_token_id", None)
    found: list[int] = []
    for word in words:
        ids = list(tokenizer.encode(glue + word, add_special_tokens=False))
        if len(ids) == 1 and ids[0] != unknown and ids[0] not in found:
            found.append(ids[0])
    return tuple(found)


@dataclass(frozen=True)
class SoftScore:
    p_fake: float | None
    p_fake_logsumexp: float | None
    note: str | None = None  # why there is no score, or what was missing


def soft_score(logits: Mapping[int, float], anchors: AnchorTokens) -> SoftScore:
    """Both probabilities from the logits at the answer position (id -> logit).

    Ids absent from ``logits`` (top-k log-probabilities of a server) are left out and noted.
    """
    fake = [float(logits[i]) for i in anchors.fake_ids if i in logits]
    real = [float(logits[i]) for i in anchors.real_ids if i in logits]
    missing = [i for i in anchors.fake_ids + anchors.real_ids if i not in logits]
    if not fake or not real:
        return SoftScore(None, None, f"anchor tokens missing from the returned logits: {missing}")
    if not all(math.isfinite(z) or z == -math.inf for z in fake + real):
        return SoftScore(None, None, "the anchor logits are not finite numbers")
    note = f"anchor tokens missing from the returned logits: {missing}" if missing else None
    return SoftScore(eq2_probability_fake(fake, real), logsumexp_probability_fake(fake, real), note)


def find_answer_position(
    token_ids: Sequence[int],
    anchors: AnchorTokens,
    decode: Callable[[Sequence[int]], str],
    prefix_text: str = "",
    answer_after: str | None = None,
) -> int | None:
    """Index of the first generated anchor token (after the text ``answer_after``, when set; a
    glued anchor, ``>fake``, ends that text itself)."""
    wanted = set(anchors.all_ids)
    glued = anchors.glued_ids
    for index, token in enumerate(token_ids):
        if token not in wanted:
            continue
        upto = index + 1 if token in glued else index
        if answer_after is None or answer_after in prefix_text + decode(token_ids[:upto]):
            return index
    return None


def answer_soft_score(
    anchors: AnchorTokens,
    ids: Sequence[int],
    steps: Sequence[dict[int, float]],
    decode: Callable[[Sequence[int]], str],
    response_prefix: str,
    answer_after: str | None,
    answer_bias: AnswerBias | None = None,
) -> SoftScore:
    """Eq. 2 at the answer position from per-step anchor values, with the collaborative bias
    added back at the step it fired (vLLM and server logits are taken before the processor)."""
    position = find_answer_position(ids, anchors, decode, response_prefix, answer_after)
    if position is None or position >= len(steps):
        return SoftScore(None, None, "the answer states no anchor token")
    values = dict(steps[position])
    if answer_bias is not None:
        for token_id, bias in bias_at_step(answer_bias, ids, position).items():
            if token_id in values:
                values[token_id] += bias
    return soft_score(values, anchors.compared_at(ids[position]))
