"""Token soft-scoring (seed 003 eq. 2) with hand-built logits, and anchor tokens from a real tokenizer."""

from __future__ import annotations

import math

import pytest

from harness.evaluation.soft_scoring import (
    AnchorTokens,
    eq2_probability_fake,
    find_answer_position,
    logsumexp_probability_fake,
    resolve_anchor_tokens,
    soft_score,
)


def test_eq2_as_printed_by_hand() -> None:
    # fake variants z = 2.0 and 1.0 (summed: 3.0), real z = 0.5: p = e^3 / (e^3 + e^0.5)
    expected = math.exp(3.0) / (math.exp(3.0) + math.exp(0.5))
    assert eq2_probability_fake([2.0, 1.0], [0.5]) == pytest.approx(expected)


def test_logsumexp_variant_by_hand() -> None:
    # class masses e^2 + e^1 vs e^0.5
    expected = (math.exp(2.0) + math.exp(1.0)) / (math.exp(2.0) + math.exp(1.0) + math.exp(0.5))
    assert logsumexp_probability_fake([2.0, 1.0], [0.5]) == pytest.approx(expected)


def test_single_variants_make_both_forms_equal() -> None:
    assert eq2_probability_fake([1.3], [-0.2]) == pytest.approx(logsumexp_probability_fake([1.3], [-0.2]))


def test_eq2_depends_on_a_logit_shift_when_variant_counts_differ() -> None:
    """Why the vLLM backend asks for raw logits: log-probs (logits - c) change eq. 2, not the variant."""
    fake, real = [2.0, 1.0], [0.5]
    shift = 7.0
    shifted = ([z - shift for z in fake], [z - shift for z in real])
    assert eq2_probability_fake(*shifted) != pytest.approx(eq2_probability_fake(fake, real))
    assert logsumexp_probability_fake(*shifted) == pytest.approx(logsumexp_probability_fake(fake, real))


def test_large_logits_do_not_overflow() -> None:
    assert eq2_probability_fake([900.0, 800.0], [10.0]) == 1.0
    assert eq2_probability_fake([-900.0], [900.0]) == pytest.approx(0.0)
    assert logsumexp_probability_fake([-math.inf], [-math.inf]) == 0.5
    assert eq2_probability_fake([-math.inf], [-math.inf]) == 0.5
    assert eq2_probability_fake([-math.inf, 3.0], [0.0]) == 0.0


def test_soft_score_notes_missing_anchor_tokens() -> None:
    anchors = AnchorTokens(fake_ids=(5, 6), real_ids=(7,))
    score = soft_score({5: 2.0, 7: 0.5}, anchors)  # id 6 not among a server's top-k
    assert score.p_fake == pytest.approx(eq2_probability_fake([2.0], [0.5]))
    assert "[6]" in (score.note or "")
    empty = soft_score({5: 2.0}, anchors)  # no real token at all
    assert empty.p_fake is None and empty.p_fake_logsumexp is None and empty.note
    broken = soft_score({5: float("nan"), 7: 0.5}, anchors)  # a NaN logit gives no probability, not NaN
    assert broken.p_fake is None and "not finite" in (broken.note or "")


def test_anchor_tokens_from_a_real_tokenizer(word_tokenizer) -> None:
    vocab = word_tokenizer.get_vocab()
    anchors = resolve_anchor_tokens(word_tokenizer, ["fake", "Fake", "FAKE"], ["real", "Real"])
    assert anchors.fake_ids == (vocab["fake"], vocab["Fake"])  # FAKE is unknown to this vocabulary
    assert anchors.real_ids == (vocab["real"], vocab["Real"])
    assert "FAKE" in anchors.skipped


@pytest.mark.slow
def test_multi_token_variants_are_skipped_or_cut(tiny_qwen) -> None:
    """With the tiny Qwen BPE, 'Fake' is three tokens ('F', 'ak', 'e'): no single logit."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen)
    anchors = resolve_anchor_tokens(tokenizer, ["fake", "Fake"], ["real"])
    assert anchors.fake_ids == (
        tokenizer.encode("fake", add_special_tokens=False)[0],
        tokenizer.encode(" fake", add_special_tokens=False)[0],
    )
    assert "Fake" in anchors.skipped
    first = resolve_anchor_tokens(tokenizer, ["Fake"], ["real"], multi_token_variants="first_token")
    assert first.fake_ids[0] == tokenizer.encode("Fake", add_special_tokens=False)[0]


def test_shared_or_missing_anchor_tokens_are_errors(word_tokenizer) -> None:
    with pytest.raises(ValueError, match="stand for both fake and real"):
        resolve_anchor_tokens(word_tokenizer, ["fake"], ["fake"])
    with pytest.raises(ValueError, match="no anchor word of the real class"):
        resolve_anchor_tokens(word_tokenizer, ["fake"], ["REAL"])


def test_answer_position_after_a_marker(word_tokenizer) -> None:
    vocab = word_tokenizer.get_vocab()
    anchors = resolve_anchor_tokens(word_tokenizer, ["fake", "generated"], ["real"])
    words = ["<think>", "real", "hand", "</think>", "<verdict>", "generated", "</verdict>"]
    ids = [vocab[w] for w in words]

    def decode(t):
        return word_tokenizer.decode(t)

    assert find_answer_position(ids, anchors, decode) == 1  # first anchor anywhere
    assert find_answer_position(ids, anchors, decode, answer_after="<verdict>") == 5
    assert find_answer_position(ids, anchors, decode, answer_after="<nowhere>") is None
    # the response prefix counts as text before the answer
    assert (
        find_answer_position(ids[4:], anchors, decode, prefix_text="<verdict>", answer_after="<verdict>") == 1
    )
