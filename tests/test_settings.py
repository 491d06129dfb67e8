"""Typed settings at every step's boundary (radis.settings): each ``radis`` step that is given
``--settings`` receives a dataclass built once, with the schema's defaults, and no module but
radis.settings reads a step's settings by string key."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from radis.cli import build_parser
from radis.settings import (
    ConfigError,
    GeneralGenerationStep,
    JudgeStep,
    TranslateStep,
    default,
    settings_class,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "radis"
GENERATION = {"backend": "hf", "batch_size": 2, "dtype": "float32"}


def _string_key_reads(tree: ast.AST) -> list[int]:
    """Lines that index a step's settings by a string: ``settings["x"]``, ``settings.get("x")``,
    ``settings.given["x"]``."""

    def is_settings(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id == "settings") or (
            isinstance(node, ast.Attribute) and node.attr == "given" and is_settings(node.value))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_settings(node.value) and isinstance(node.slice, ast.Constant):
            lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and is_settings(node.func.value)):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_a_string_key_read():
    assert _string_key_reads(ast.parse('a = settings["seed"]\nb = settings.get("x")\nc = settings.given["d"]')) == [
        1, 2, 3]
    assert _string_key_reads(ast.parse("a = settings.seed\nb = records['seed']")) == []


def test_no_module_but_radis_settings_reads_settings_by_key():
    found = {str(path.relative_to(SRC)): lines for path in sorted(SRC.rglob("*.py"))
             if path.name != "settings.py" and (lines := _string_key_reads(ast.parse(path.read_text(encoding="utf-8"))))}
    assert found == {}


def _step_functions():
    import importlib

    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        module, function = sub.get_default("action").split(":")
        action = getattr(importlib.import_module(module), function)
        if "settings" in inspect.signature(action).parameters:
            yield name, action


def test_every_step_given_settings_declares_its_typed_settings():
    """radis.cli builds the class a step's ``settings`` is annotated with; one that named no
    StepSettings class would get the raw mapping. ``materialise`` alone takes a backbone's
    catalogue entry, which radis.backbones owns."""
    steps = dict(_step_functions())
    assert len(steps) > 20
    assert sorted(name for name, action in steps.items() if settings_class(action) is None) == ["materialise"]
    assert settings_class(steps["translate"]) is TranslateStep


def test_left_out_keys_take_the_schema_defaults():
    step = TranslateStep.from_step({"seed": 3, "generation": GENERATION, "decoding": {"max_new_tokens": 8},
                                    "evaluation": {}, "trust_remote_code": False})
    assert (step.evaluation.instruction, step.evaluation.postprocess) == (
        default("evaluation.translation.instruction"), default("evaluation.translation.postprocess"))
    assert step.device == default("compute.device") == "auto"
    assert step.generation.tensor_parallel_size == 1 and step.decoding.max_new_tokens == 8
    assert step.prompt_format is None and step.given["seed"] == 3


def test_the_models_tensor_parallel_size_overrides_the_generation_sections():
    step = TranslateStep.from_step({"seed": 3, "generation": GENERATION, "decoding": {"max_new_tokens": 8},
                                    "evaluation": {}, "tensor_parallel_size": 4})
    assert step.generation.tensor_parallel_size == 4


def test_a_required_key_left_out_is_named():
    with pytest.raises(ConfigError, match="'seed'"):
        TranslateStep.from_step({"generation": GENERATION, "decoding": {"max_new_tokens": 8}, "evaluation": {}})


def test_a_response_set_left_out_or_null_takes_the_defaults():
    step = GeneralGenerationStep.from_step({
        "seed": 1, "generation": GENERATION,
        "benchmarks": {"mtbench": {"decoding": {"max_new_tokens": 4}, "limit": None, "temperatures": None},
                       "advbench": {"decoding": {"max_new_tokens": 4}, "limit": 5, "temperatures": "greedy"}}})
    assert (step.benchmarks["mtbench"].limit, step.benchmarks["mtbench"].temperatures) == (None, "fastchat")
    assert (step.benchmarks["advbench"].limit, step.benchmarks["advbench"].temperatures) == (5, "greedy")


def test_judge_settings_are_checked_once_when_typed():
    section = {"judge": "gpt4"}  # as the rules pass it: the benchmark's section, its decoding and limit left out
    step = JudgeStep.from_step({"device": "cpu", "judged": {
        "mtbench": {"judge_name": "gpt4", "judge": {"model": "gpt-4", "base_url": "http://x", "api_key_env": "K"},
                    "section": section, "responses": "mtbench"},
        "advbench": {"judge_name": "refusal", "judge": None, "section": {"judge": "refusal"},
                     "responses": "advbench"}}})
    mtbench = step.judged["mtbench"]
    assert mtbench.judge.model == "gpt-4" and mtbench.judge.name == "gpt4" and mtbench.judge.scoring == "text"
    assert mtbench.section.judge_max_tokens == default("$defs.general_eval.judge_max_tokens")
    assert step.judged["advbench"].judge is None
    from radis.io import InputError

    with pytest.raises(InputError, match="judge 'gpt4': unknown keys"):
        JudgeStep.from_step({"judged": {"mtbench": {
            "judge_name": "gpt4", "judge": {"model": "gpt-4", "temprature": 0}, "section": section,
            "responses": "mtbench"}}})
