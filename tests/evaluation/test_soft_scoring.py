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


# A Qwen2-style pre-tokenizer (data_prep/tiny_model.py's pattern) over a word vocabulary in which, as
# in the tiny Qwen's trained BPE, the verdicts glue to the `>` before them: `<verdict>fake` is the
# tokens `<verdict` and `>fake`, and neither `fake` nor ` fake` is generated there.
GLUED_VOCAB = ["[UNK]", "[PAD]", "<think", ">The", " image", " is", " fake", " real", "</", "think", "><",
               "verdict", ">fake", ">real", ">generated", "fake", "real", "generated", ">", "<b", "<verdict"]  # fmt: skip


@pytest.fixture(scope="module")
def glued_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from data_prep.tiny_model import _QWEN_PRETOKENIZE

    tokenizer = Tokenizer(
        models.WordLevel(vocab={w: i for i, w in enumerate(GLUED_VOCAB)}, unk_token="[UNK]")
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Split(
        Regex(_QWEN_PRETOKENIZE), behavior="isolated", invert=False
    )
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]")


def _encode(tokenizer, text: str) -> list[int]:
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert GLUED_VOCAB.index("[UNK]") not in ids, [GLUED_VOCAB[i] for i in ids]
    return ids


def test_a_verdict_glued_to_the_marker_is_found_and_scored_against_its_glued_rivals(glued_tokenizer) -> None:
    """FakeXplain's `<verdict>fake</verdict>` on the tiny Qwen: every answer was 'the answer states no
    anchor token' (no AP, AUC or ROC), because `fake` only ever came as `>fake`."""
    from harness.evaluation.soft_scoring import answer_soft_score

    vocab = {w: i for i, w in enumerate(GLUED_VOCAB)}
    anchors = resolve_anchor_tokens(
        glued_tokenizer, ["fake", "generated"], ["real"], answer_after="<verdict>"
    )
    assert anchors.fake_ids == (vocab["fake"], vocab[" fake"], vocab["generated"])
    assert (anchors.glued_fake_ids, anchors.glued_real_ids) == (
        (vocab[">fake"], vocab[">generated"]),
        (vocab[">real"],),
    )

    def decode(t):
        return glued_tokenizer.decode(t)

    ids = _encode(glued_tokenizer, "<think>The image is fake</think><verdict>real</verdict>")
    glued_at = ids.index(vocab[">real"])
    assert find_answer_position(ids, anchors, decode, answer_after="<verdict>") == glued_at
    assert find_answer_position(ids, anchors, decode) == ids.index(vocab[" fake"])  # no marker: the first
    # At the glued position the glued spellings are compared (eq. 2); the plain ones, which the model
    # cannot write there, are left out (their logit of 50 would otherwise decide).
    steps = [{i: 50.0 for i in anchors.all_ids} for _ in ids]
    steps[glued_at].update({vocab[">fake"]: 1.0, vocab[">generated"]: 0.5, vocab[">real"]: 3.0})
    score = answer_soft_score(anchors, ids, steps, decode, "", "<verdict>")
    assert score.p_fake == pytest.approx(eq2_probability_fake([1.0, 0.5], [3.0])) and score.note is None
    assert score.p_fake_logsumexp == pytest.approx(logsumexp_probability_fake([1.0, 0.5], [3.0]))
    # A glued token that does not complete the marker (`<b>fake` in the reasoning) is not the answer.
    ids = _encode(glued_tokenizer, "<think>The image is<b>fake</think><verdict>real</verdict>")
    assert find_answer_position(ids, anchors, decode, answer_after="<verdict>") == ids.index(vocab[">real"])
    ids = _encode(glued_tokenizer, "<b>fake")
    assert find_answer_position(ids, anchors, decode, answer_after="<verdict>") is None


def test_glued_anchors_need_a_punctuation_marker_and_both_classes(glued_tokenizer) -> None:
    for after in (None, "", "The", "is "):
        anchors = resolve_anchor_tokens(glued_tokenizer, ["fake"], ["real"], answer_after=after)
        assert anchors.glued_ids == frozenset(), after
    # `>real` is a token but no spelling of the fake class glues: nothing to compare it with
    anchors = resolve_anchor_tokens(glued_tokenizer, ["fake"], ["real"], answer_after="<verdict>")
    assert anchors.glued_ids
    lonely = resolve_anchor_tokens(glued_tokenizer, ["image"], ["real"], answer_after="<verdict>")
    assert lonely.glued_ids == frozenset() and lonely.compared_at(GLUED_VOCAB.index(">real")) == AnchorTokens(
        fake_ids=lonely.fake_ids, real_ids=lonely.real_ids, skipped=lonely.skipped
    )


@pytest.mark.slow
def test_the_tiny_qwen_glues_fakexplains_verdict_and_it_is_found(tiny_qwen) -> None:
    """The same with the tiny Qwen's trained BPE and FakeXplain's evaluation config."""
    import yaml
    from transformers import AutoTokenizer

    from harness.config import REPO_ROOT

    soft = yaml.safe_load((REPO_ROOT / "conf" / "eval" / "fakexplain.yaml").read_text())["soft_scoring"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen)
    anchors = resolve_anchor_tokens(
        tokenizer, soft["fake_words"], soft["real_words"], answer_after=soft["answer_after"]
    )
    for verdict in ("fake", "real"):
        text = f"<think>a real texture, not fake</think>\n<tag>x</tag>\n<verdict>{verdict}</verdict>"
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert not {tokenizer.encode(w, add_special_tokens=False)[0] for w in (verdict, " " + verdict)} & set(
            ids[ids.index(tokenizer.encode("<verdict", add_special_tokens=False)[0]) :]
        )  # the plain spellings never occur after the marker: only the glued one can be found
        position = find_answer_position(ids, anchors, tokenizer.decode, answer_after=soft["answer_after"])
        assert position is not None and tokenizer.decode(ids[position : position + 1]) == f">{verdict}", (
            verdict
        )
        assert anchors.compared_at(ids[position]).fake_ids == anchors.glued_fake_ids
