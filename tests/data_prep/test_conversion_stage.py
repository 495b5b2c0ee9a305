"""The conversion stage itself: bounded streaming through workers, registry, readers."""

from __future__ import annotations

import json

import pytest

from data_prep.conversion import convert_records
from data_prep.fakexplain_format import vocabulary
from data_prep.readers import iter_json_records, parse_json_object
from data_prep.records import RawRecord
from data_prep.sources import SOURCES, source_module
from data_prep.sources.fakexplained import VOCABULARY_FILE, Options


def test_workers_consume_the_input_lazily(synth_raw):
    """Constant memory: with 2 workers the stage holds a bounded number of records in flight."""
    lines = (synth_raw / "annotations.jsonl").read_bytes().splitlines() * 20  # 960 records
    consumed = 0

    def records():
        nonlocal consumed
        for ordinal, line in enumerate(lines):
            consumed += 1
            yield RawRecord(location=f"mem:{ordinal}", payload=line, base_dir=str(synth_raw), ordinal=ordinal)

    options = Options(min_pixels=3136, max_pixels=12544, verify_images=False)
    results = convert_records("fakexplained", options, records(), workers=2, chunk_size=8)
    first = next(results)
    assert first[0] == "ok"
    bound = 2 * 4 * 8 + 8  # workers * 4 chunks in flight * chunk size, plus the chunk being filled
    assert consumed <= bound, f"{consumed} records read before the first result (bound {bound})"
    rest = list(results)
    assert len(rest) + 1 == len(lines) and consumed == len(lines)
    assert [r[1].record_id for r in rest[:3]] == [
        json.loads(line)["id"] for line in lines[1:4]
    ]  # input order


def test_every_registered_source_has_the_module_contract():
    for name in SOURCES:
        module = source_module(name)
        assert module.OUTPUTS and all(o.endswith((".jsonl", ".parquet")) for o in module.OUTPUTS)
        assert callable(module.prepare) and callable(module.convert) and module.Options().__class__
    with pytest.raises(
        ValueError, match=r"unknown source 'fakexplaind' \(did you mean: fakexplained\?\); known sources: "
    ):
        source_module("fakexplaind")


def test_json_array_reader_splits_items_across_blocks_and_isolates_a_bad_item(tmp_path, monkeypatch):
    import data_prep.readers as readers
    from data_prep.records import RecordRejected

    monkeypatch.setattr(readers, "_READ_SIZE", 5)  # items, strings and escapes cross block edges
    good = [{"a": 'x,]}"\\', "b": [1, {"c": "[{"}]}, {"q": "é\\n"}, {"n": 3}]
    text = "\ufeff [\n" + ",\n".join(json.dumps(i, ensure_ascii=False) for i in good[:2])
    text += ',\n{"broken": tru},\n' + json.dumps(good[2]) + "\n]\n"
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    records = list(iter_json_records(path))
    assert [r.location for r in records] == [f"{path}[{i}]" for i in range(4)]
    parsed = []
    for record in records:
        try:
            parsed.append(parse_json_object(record))
        except RecordRejected as rejected:
            parsed.append(rejected.reason)
    assert parsed == [good[0], good[1], "bad_json", good[2]]


def test_truncated_json_array_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"a": 1}, {"b": 2')
    with pytest.raises(ValueError, match="not closed"):
        list(iter_json_records(path))


def test_vocabulary_maps_generator_spellings_to_table_2_families():
    vocab = vocabulary(VOCABULARY_FILE)
    assert vocab.generator("sd-1.5") == ("SD 1.5", "Diffusion")
    assert vocab.generator("Stable Diffusion 1.5") == ("SD 1.5", "Diffusion")
    assert vocab.generator("stylegan_xl") == ("StyleGAN-XL", "GAN")
    assert vocab.generator("PixArt-Σ".lower()) == ("PixArtSigma", "DiT")
    assert vocab.generator("LlamaGen") == ("LlamaGen", "Others")
    assert vocab.generator("brand-new-model") == ("brand-new-model", None)
    counts = {
        f: sum(1 for _, fam in set(vocab.generator_lookup.values()) if fam == f) for f in vocab.families
    }
    assert counts == {"Diffusion": 15, "GAN": 4, "DiT": 4, "Others": 4}  # 002 Table 2 lists 27 generators
    assert len(vocab.tags) == 6  # 002 App. B
