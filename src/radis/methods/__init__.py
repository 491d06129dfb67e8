"""The registry of methods (paper §4.2, Appendix A): what each fine-tunes on, and the data the
backbone synthesizes for it first.

A method lives in one module of this package that declares ``METHOD = Method(...)``: its builder
(the name that ``methods.<name>.builder`` of the config gives), the function that turns the
prepared training records (with their drawn instruction, joined with the synthesized fields) into
chat examples ``{"id", "messages": [user, assistant]}``, and the :class:`Synthesis` it needs (None:
it trains on the references alone), and its label in the tables. The config schema, the rules, the
CLI, ``radis plan`` and the tables read this registry, so adding a method is one new module and one
config entry.

* ``vanilla``: (instruction(x), y)
* ``radis``:   (instruction(x), ŷ = y + r), the self-generated rationale appended (Eq. 2)
* ``seqkd``:   (instruction(x), y) and (instruction(x), y'), the model's own translation (Eq. 5)
* ``sdft``:    (instruction(x), ỹ), the model's paraphrase of y through SDFT's template
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from radis.prompts import assistant, user
from radis.registry import declaring, lookup
from radis.settings import TrainsetStep


@dataclass(frozen=True)
class Synthesis:
    """One kind of data the backbone writes for a method (radis.synth runs it, in resumable shards).

    ``prompts(tokenizer, records)`` renders the prompts in the model's chat format;
    ``postprocess(records, generations)`` returns the records with the synthesized fields;
    ``summary(records)`` adds the kind's own counts and rates to the file's provenance. Pure
    functions, so they are tested without a model.
    """

    kind: str
    prompts: Callable
    postprocess: Callable
    summary: Callable[[list[dict]], dict] = field(default=lambda records: {})


@dataclass(frozen=True)
class Method:
    """One training-set builder: ``build(records)`` returns the chat examples; ``synthesis`` is the
    data the backbone writes for it first (None: the references alone); ``label`` is the method's
    name in the tables' rows ("w/ {label}"; the builder where it gives none)."""

    builder: str
    build: Callable[[list[dict]], list[dict]]
    synthesis: Synthesis | None = None
    label: str = ""


def example(record: dict, response: str, suffix: str = "") -> dict:
    """One chat training example: the record's instruction, answered with ``response``."""
    return {"id": record["id"] + suffix, "messages": [user(record["instruction"]), assistant(response)]}


def generation_fields(generation) -> dict:
    """What every synthesized record keeps of its generation (lengths and truncation, for summaries)."""
    return {"generated_tokens": generation.n_tokens, "finished": generation.finished}


@functools.cache
def methods() -> dict[str, Method]:
    """Every method of this package, by builder."""
    return {module.METHOD.builder: module.METHOD for module in declaring(__name__, "METHOD")}


def method(builder: str) -> Method:
    return lookup(methods(), builder, "training-set builder")


@functools.cache
def synthesis_kinds() -> dict[str, Synthesis]:
    """Every synthesis kind a method needs, by kind."""
    return {m.synthesis.kind: m.synthesis for m in methods().values() if m.synthesis is not None}


def synth_kind(builder: str) -> str | None:
    """The synthesis kind a builder trains on (None: the references alone)."""
    synthesis = method(builder).synthesis
    return synthesis.kind if synthesis else None


def build_trainset(builder: str, records: list[dict]) -> list[dict]:
    return method(builder).build(records)


def write_trainset(data: list[str], synth_dir: str | None, out: str, settings: TrainsetStep) -> None:
    """``radis build-trainset``: a method's training set from the prepared data of every direction
    (``data``: ``{direction}.jsonl`` files) joined with what was synthesized for it (``synth_dir``)."""
    from pathlib import Path

    from radis.io import read_jsonl, write_jsonl
    from radis.languages import parse_direction
    from radis.prompts import with_instructions

    kind = synth_kind(settings.builder)
    records = []
    for data_path in data:
        direction = parse_direction(Path(data_path).stem)
        if kind is None:
            records += with_instructions(read_jsonl(data_path), direction, settings.seed)
        else:
            records += read_jsonl(Path(synth_dir) / f"{direction}.jsonl")
    examples = build_trainset(settings.builder, records)
    write_jsonl(out, examples)
    print(f"{out}: {len(examples)} examples from {len(records)} sentence pairs")
