"""Discovery instead of lists: registries that modules join by declaring themselves.

common/registry.py indexes a package's declarations without importing it and imports a declaring
module on first use; plugins (common/plugins.py) register when imported; a file loaded by path
(verl, the ms-swift adapter, a run's copy) declares nothing. Each project registry finds exactly
what its modules declare, and the CLI and the validation read names from them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common.registry import DeclarationError, Registry, UnknownNameError, declared_names

REPO = Path(__file__).resolve().parent.parent


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for module, text in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(text))


def _run(script: str, *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = {k: v for k, v in os.environ.items() if k != "AIGI_PLUGINS"}
    full_env.update({"PYTHONPATH": str(cwd), **(env or {})})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_declared_names_reads_literal_declarations_only() -> None:
    source = textwrap.dedent('''
        """Docs may show @thing("in_docs")."""
        @thing("a")
        def f(): ...
        registry.thing("b")(object)
        thing(NAME)           # not a literal: not indexed
        other("c")
    ''')
    assert declared_names(source, "thing") == ["a", "b"]
    assert declared_names("x = 1", "thing") == []
    # A declaration by keyword, as stage kinds are declared: StageKind(name="expert_train", ...).
    assert declared_names('register(thing(name="k", command="x"))\nthing(name=K)', "thing") == ["k"]


def test_a_package_is_indexed_without_import_and_imported_on_first_use(tmp_path: Path) -> None:
    _package(tmp_path, "shapes", {
        "registry": """
            from common.registry import Registry
            SHAPES = Registry("shape", packages=("shapes",), declarator="shape")
            def shape(name):
                return SHAPES.register(name)
        """,
        "square": """
            import sys
            from shapes.registry import shape
            print("importing square", file=sys.stderr)
            @shape("square")
            def area(side): return side * side
        """,
        "circle": """
            from shapes.registry import shape
            @shape("circle")
            def area(r): return 3 * r * r
        """,
    })  # fmt: skip
    result = _run("""
        import sys
        from common.registry import UnknownNameError
        from shapes.registry import SHAPES
        print(SHAPES.names(), "shapes.square" in sys.modules, SHAPES.origin("square"))
        print(SHAPES.get("square")(3), "shapes.square" in sys.modules, "shapes.circle" in sys.modules)
        try:
            SHAPES.get("sqare")
        except UnknownNameError as exc:
            print(exc)
    """, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "['circle', 'square'] False shapes.square",
        "9 True False",
        "unknown shape 'sqare' (did you mean: square?); available: circle, square",
    ]


def test_two_modules_declaring_one_name_is_an_error_naming_both(tmp_path: Path) -> None:
    _package(tmp_path, "dupes", {
        "registry": """
            from common.registry import Registry
            THINGS = Registry("thing", packages=("dupes",), declarator="thing")
            thing = THINGS.register
        """,
        "one": 'from dupes.registry import thing\n@thing("x")\ndef f(): ...\n',
        "two": 'from dupes.registry import thing\n@thing("x")\ndef g(): ...\n',
    })  # fmt: skip
    result = _run("from dupes.registry import THINGS\nTHINGS.names()", cwd=tmp_path)
    assert result.returncode != 0
    assert "thing 'x' is declared twice: in dupes.one and in dupes.two" in result.stderr


def test_a_plugin_registers_on_import_and_cannot_take_a_declared_name(tmp_path: Path) -> None:
    _package(tmp_path, "myplugin", {
        "good": 'from data_prep.sources import data_source\n@data_source("mine")\ndef convert(r, o): ...\n',
        "bad": 'from data_prep.sources import data_source\n@data_source("fake_hr1")\ndef convert(r, o): ...\n',
    })  # fmt: skip
    script = "from data_prep.sources import SOURCES\nprint(SOURCES.origin('mine'), 'mine' in SOURCES.names())"
    without = _run("from data_prep.sources import SOURCES\nprint('mine' in SOURCES.names())", cwd=tmp_path)
    assert without.stdout.strip() == "False"
    loaded = _run(script, cwd=tmp_path, env={"AIGI_PLUGINS": "myplugin.good"})
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["myplugin.good", "True"]
    clash = _run(script, cwd=tmp_path, env={"AIGI_PLUGINS": "myplugin.bad"})
    assert clash.returncode != 0
    assert "AIGI_PLUGINS: cannot import plugin module 'myplugin.bad'" in clash.stderr
    assert (
        "data source 'fake_hr1' is declared by data_prep.sources.fake_hr1; myplugin.bad registers it too"
        in (clash.stderr)
    )


def test_a_file_loaded_by_path_declares_nothing(tmp_path: Path) -> None:
    """verl loads a reward file by path (not in sys.modules); a user's edited copy of a project
    reward must not collide with the original it was copied from."""
    copy = tmp_path / "my_fake_hr1.py"
    copy.write_text((REPO / "rewards" / "fake_hr1.py").read_text())
    result = _run(f"""
        from rewards.loader import load_reward_fn
        from rewards.registry import REWARDS
        from common.response_formats import RESPONSE_FORMATS
        fn = load_reward_fn({str(copy)!r}, "compute_score")
        print(fn("d", "<think>\\n\\n</think>\\n\\nfake", "fake")["score"])
        print(REWARDS.origin("fake_hr1"), RESPONSE_FORMATS.get("think_answer").parse.__module__)
    """, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.0", "rewards.fake_hr1", "rewards.fake_hr1"]


def test_lazy_targets_import_nothing_until_used() -> None:
    registry: Registry[type] = Registry("thing")
    registry.add_target("ordered", "collections:OrderedDict")
    assert registry.names() == ["ordered"] and registry.origin("ordered") == "collections"
    from collections import OrderedDict

    assert registry.get("ordered") is OrderedDict
    with pytest.raises(ValueError, match="module:attribute"):
        registry.add_target("bad", "collections.OrderedDict")
    with pytest.raises(DeclarationError, match="already registered"):
        registry.add_target("ordered", "collections:Counter")
    with pytest.raises(UnknownNameError):
        registry.get("missing")


# --- the project's registries ---------------------------------------------------------------------


def _declared(package: str, declarator: str) -> set[str]:
    folder = REPO.joinpath(*package.split("."))
    return {name for path in folder.glob("*.py") for name in declared_names(path.read_text(), declarator)}


def test_the_projects_registries_hold_exactly_what_their_modules_declare() -> None:
    from common.response_formats import RESPONSE_FORMATS
    from data_prep.sources import SOURCES
    from data_prep.synth_layouts import LAYOUTS
    from rewards.registry import REWARDS

    assert set(SOURCES.names()) == _declared("data_prep.sources", "data_source")
    assert set(LAYOUTS.names()) == _declared("data_prep.synth_layouts", "synth_layout")
    assert set(REWARDS.names()) == _declared("rewards", "grpo_reward")
    assert set(RESPONSE_FORMATS.names()) == _declared("rewards", "response_format") | _declared(
        "harness.evaluation", "response_format"
    )
    # Importing every declaring module registers every declared name, and each layout names a source.
    for registry in (SOURCES, LAYOUTS, REWARDS, RESPONSE_FORMATS):
        assert set(registry.load_all()) == set(registry.names()), registry.kind
    assert {layout.source for layout in LAYOUTS.load_all().values()} <= set(SOURCES.names())


def test_stage_kinds_of_the_indexed_packages_are_found_without_a_list_and_imported_on_use() -> None:
    code = textwrap.dedent("""
        import sys
        from harness.kinds import KINDS, get_kind, kind_names
        assert "expert.stage_kinds" not in sys.modules  # listing names reads files, imports nothing
        assert {"expert_train", "expert_swap", "expert_infer", "swift_sft"} <= set(kind_names())
        assert KINDS.origin("expert_train") == "expert.stage_kinds" and KINDS.origin("swift_sft") == "harness.kinds"
        assert get_kind("expert_train").name == "expert_train" and "expert.stage_kinds" in sys.modules
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_eval_config_checks_names_without_importing_a_backend() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom harness.evaluation.config import parse_eval_config\n"
         "parse_eval_config({'backend': 'vllm', 'response_format': 'think_answer'})\n"
         "print(sorted(m for m in sys.modules if m.startswith('harness.evaluation.backends.')))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_no_import_cycle_between_the_eval_config_and_the_backends() -> None:
    """config.py looks backends up by name; the backends import config.py (not the reverse)."""
    config = _imports(REPO / "harness" / "evaluation" / "config.py")
    backends_init = _imports(REPO / "harness" / "evaluation" / "backends" / "__init__.py")
    assert "harness.evaluation.backends" in config  # the name check reads the registry
    assert not {m for m in backends_init if m.startswith("harness.evaluation")}, backends_init


def test_the_rewards_by_path_bootstrap_lives_in_one_helper() -> None:
    entry_files = [
        p
        for p in (REPO / "rewards").glob("*.py")
        if p.name != "bootstrap.py" and 'if __package__ != "rewards"' in p.read_text()
    ]
    assert {p.name for p in entry_files} >= {"fakexplain.py", "fake_hr1.py", "swift_adapter.py"}
    for path in entry_files:
        text = path.read_text()
        assert "rewards.bootstrap.loaded_by_path(__file__)" in text, path.name
        assert "raise ImportError" not in text and "sys.path[:]" not in text, path.name


def test_a_typo_in_a_registered_name_fails_validation_with_the_key() -> None:
    from harness.config import compose
    from harness.plan import build_plan
    from harness.validate import validate_plan

    cfg = compose(
        [
            "paper=fake_hr1",
            "profile=smoke",
            "stages.prepare_genimage.source=fake_hr",
            "eval.metrics=[acuracy]",
        ]
    )
    problems = [str(p) for p in validate_plan(build_plan(cfg, run_name="x"), check_paths=False)]
    assert (
        "stages.prepare_genimage.source: unknown data source 'fake_hr' (did you mean: fake_hr1?)"
        in "\n".join(problems)
    )
    assert any(p.startswith("stages.eval.options.metrics[0]: unknown metric 'acuracy'") for p in problems), (
        problems
    )


def test_data_prep_cli_choices_come_from_the_registries() -> None:
    from data_prep.__main__ import build_parser
    from data_prep.sources import SOURCES
    from data_prep.synth_layouts import LAYOUTS

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    choices = {
        cmd: {a.dest: a.choices for a in commands[cmd]._actions if a.choices}
        for cmd in ("convert", "check", "synth")
    }
    assert list(choices["convert"]["source"]) == list(choices["check"]["source"]) == SOURCES.names()
    assert list(choices["synth"]["kind"]) == LAYOUTS.names()


def test_the_tiny_tokenizer_corpus_comes_from_the_registered_formats_and_layouts(tmp_path: Path) -> None:
    from common.response_formats import RESPONSE_FORMATS
    from data_prep.synth_layouts import LAYOUTS
    from data_prep.tiny_corpus import tokenizer_corpus

    corpus = set(tokenizer_corpus())
    for name, entry in RESPONSE_FORMATS.load_all().items():
        assert set(entry.corpus) <= corpus, name
    for name, layout in LAYOUTS.load_all().items():
        assert layout.texts is None or set(layout.texts()) <= corpus, name
    # A plugin's format and layout reach the corpus too (the tiny model then writes its answers).
    import shutil

    shutil.copytree(REPO / "tests" / "plugin_paper" / "quokka", tmp_path / "quokka")
    script = "from data_prep.tiny_corpus import tokenizer_corpus\nc = set(tokenizer_corpus())\n"
    script += "print('[[fake]]' in c, 'Real or fake? Answer [[real]] or [[fake]].' in c)"
    assert _run(script, cwd=tmp_path).stdout.split() == ["False", "False"]
    assert _run(script, cwd=tmp_path, env={"AIGI_PLUGINS": "quokka"}).stdout.split() == ["True", "True"]
