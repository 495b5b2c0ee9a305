"""data_prep.cpu_compat: the CPU-only workarounds apply once, leave no fake torchvision behind, and
do nothing where torchvision imports (simulated with a stand-in package; no real torchvision can
run on these CPU machines, FACTS.md)."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from .conftest import PYTHON, REPO

CPU_COMPAT = REPO / "data_prep" / "cpu_compat.py"


def _python(code: str, *, env_path: str | None = None) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": f"{env_path}:{REPO}" if env_path else str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )


def test_apply_patches_once_and_is_idempotent():
    result = _python(
        """
        import importlib, sys
        from data_prep import cpu_compat
        from transformers.processing_utils import ProcessorMixin
        vpa = importlib.import_module("transformers.models.auto.video_processing_auto")
        assert vpa.AutoVideoProcessor.from_pretrained("/nonexistent") is None
        assert getattr(ProcessorMixin.save_pretrained, "__aigi_cpu_compat__", False)
        assert getattr(ProcessorMixin.check_argument_for_proper_class, "__aigi_cpu_compat__", False)
        assert "qwen_vl_utils.vision_process" in sys.modules
        assert cpu_compat.apply() == [], "a second apply must change nothing"
        # the plugin file imported again under another name (as ms-swift does) changes nothing either
        import importlib.util
        spec = importlib.util.spec_from_file_location("_other_name", cpu_compat.__file__)
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
        assert module.apply() == []
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_first_import_applies_every_patch():
    result = _python(
        """
        import data_prep.cpu_compat as c
        print(sorted(c.APPLIED_ON_IMPORT))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(
        sorted(
            [
                "video_processor_none",
                "processor_accepts_no_video_processor",
                "processor_save_without_video_processor",
                "qwen_vl_utils_without_torchvision",
            ]
        )
    )


def test_no_fake_torchvision_left_visible():
    result = _python(
        """
        import importlib.util, sys
        import data_prep.cpu_compat
        import qwen_vl_utils
        from qwen_vl_utils import fetch_image
        from transformers.utils.import_utils import is_torchvision_available
        assert "torchvision" not in sys.modules
        assert importlib.util.find_spec("torchvision") is None
        assert is_torchvision_available() is False
        from PIL import Image
        image = fetch_image({"image": Image.new("RGB", (100, 60)), "min_pixels": 3136, "max_pixels": 12544})
        print(image.size)
        try:
            qwen_vl_utils.vision_process.torchvision.io.read_video("x.mp4")
        except RuntimeError as error:
            assert "torchvision" in str(error) and "CPU" in str(error)
            print("video refused")
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "(112, 56)"  # smart_resize(60, 100) with max 112*112
    assert lines[-1] == "video refused"


def test_noop_where_torchvision_imports(tmp_path):
    # Stand-in for a GPU node's working torchvision: an importable package (a mock, since no real
    # torchvision runs on this CPU torch).
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '0.99.0'\n")
    result = _python(
        """
        import sys
        from data_prep import cpu_compat
        assert cpu_compat.torchvision_importable()
        assert cpu_compat.APPLIED_ON_IMPORT == [] and cpu_compat.apply() == []
        # nothing patched: the libraries it would patch were not even imported
        touched = [m for m in ("transformers.processing_utils", "qwen_vl_utils.vision_process",
                               "transformers.models.auto.video_processing_auto") if m in sys.modules]
        assert touched == [], touched
        print("untouched")
        """,
        env_path=str(tmp_path / "site"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("untouched")


def test_processor_without_video_processor_saves_and_reloads(tmp_path):
    from data_prep import cpu_compat

    cpu_compat.apply()
    from transformers import AutoProcessor
    from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from data_prep.tiny_model import _train_qwen_tokenizer

    tokenizer = _train_qwen_tokenizer([], 400)
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=12544),
        tokenizer=tokenizer,
        video_processor=None,
        chat_template="{{ messages }}",
    )
    processor.save_pretrained(tmp_path)
    assert {"processor_config.json", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in tmp_path.iterdir()
    }
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(reloaded).__name__ == "Qwen2_5_VLProcessor"
    assert reloaded.video_processor is None
    assert reloaded.image_processor.size["longest_edge"] == 12544
    assert reloaded.tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655


@pytest.mark.slow
def test_plugin_file_loads_through_ms_swift_importer():
    """ms-swift's own --external_plugins importer (swift.utils.utils.import_external_file) loads it."""
    result = _python(
        f"""
        import importlib
        from swift.utils.utils import import_external_file
        module = import_external_file({str(CPU_COMPAT)!r})
        import os, sys
        here = os.path.dirname({str(CPU_COMPAT)!r})
        assert here not in sys.path, "the plugin must take its folder off sys.path again"
        from transformers.processing_utils import ProcessorMixin
        assert getattr(ProcessorMixin.save_pretrained, "__aigi_cpu_compat__", False)
        vpa = importlib.import_module("transformers.models.auto.video_processing_auto")
        assert vpa.AutoVideoProcessor.from_pretrained("x") is None
        print(module.__name__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("_swift_external_")
