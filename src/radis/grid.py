"""The grid a config asks for, computed once: the models of each backbone, what each trained model
is synthesized from and by which model, and the seeds' chains.

Why one place: the rules (workflow/rules/common.smk) expand it into jobs, ``radis plan`` costs it
and ``radis cell`` addresses it; computed apart, a new method or seed was planned by one and
under-counted by the other. Names: ``base`` is the backbone untouched; a trained model is a
method's variant for one seed (radis.seeds: ``radis``, ``radis@7``); a synthesis kind is
``rationale``, ``seqkd``, ``sdft`` or ``rationale-{method}`` (Table 5: another model's rationales),
with a seed's variant where that seed synthesizes its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from radis.layout import BASE
from radis.seeds import chain_seeds, method_of, seed_of, variant, variants

#: a Table 5 kind: rationales of the model a method's ``rationale_generator`` names
EXTERNAL_KIND = "rationale-"


@dataclass(frozen=True)
class Grid:
    config: Mapping[str, Any]

    @property
    def backbones(self) -> list[str]:
        return self.config["experiment"]["backbones"]

    @property
    def methods(self) -> list[str]:
        return self.config["experiment"]["methods"]

    @property
    def external(self) -> list[str]:
        """Table 5: RaDis trained on another model's rationales (methods with a rationale_generator)."""
        return self.config["experiment"].get("external_rationales", [])

    @property
    def directions(self) -> list[str]:
        return self.config["experiment"]["directions"]

    @property
    def benchmarks(self) -> list[str]:
        """The general-ability benchmarks of Tables 3 and 5 (``general.benchmarks``)."""
        return self.config["general"]["benchmarks"]

    @property
    def prior(self) -> list[str]:
        """Released MT models evaluated as they are (Tables 1-3, "Prior LLM-based MT models")."""
        return self.config["experiment"].get("prior_models", [])

    @property
    def seeds(self) -> list[int]:
        return chain_seeds(self.config)

    def methods_of(self, backbone: str, methods: Iterable[str] | None = None) -> list[str]:
        """The methods that apply to ``backbone`` (a method may be restricted to some backbones);
        every method and Table 5 method of the run by default."""
        names = self.methods + self.external if methods is None else methods
        return [m for m in names if backbone in self.config["methods"][m].get("backbones", [backbone])]

    def trained(self, backbone: str, methods: Iterable[str] | None = None) -> list[str]:
        """The trained models of ``backbone``: each applicable method once per seed."""
        return [v for m in self.methods_of(backbone, methods) for v in variants(m, self.seeds)]

    def models(self, methods: Iterable[str] | None = None, prior: bool = True) -> list[tuple[str, str]]:
        """(backbone, model) of every evaluated model: each backbone untouched and trained, then the
        prior MT models (as released: ``base``) unless ``prior`` is false."""
        methods = None if methods is None else list(methods)
        models = [(b, m) for b in self.backbones for m in [BASE, *self.trained(b, methods)]]
        return models + ([(p, BASE) for p in self.prior] if prior else [])

    def synth_kind(self, model: str) -> str | None:
        """The synthesized data a trained model trains on (None: the references alone); a seed's own
        where that differs by seed (:meth:`per_seed`), else the first seed's."""
        from radis.methods import synth_kind

        method = method_of(model)
        entry = self.config["methods"][method]
        kind = f"{EXTERNAL_KIND}{method}" if "rationale_generator" in entry else synth_kind(entry["builder"])
        if kind is None or not self.per_seed(kind):
            return kind
        return variant(kind, seed_of(model, self.seeds), self.seeds)

    def per_seed(self, kind: str) -> bool:
        """Whether each seed synthesizes its own ``kind`` data: when its decoding samples, or when
        its generator is a model trained in the chain (``rationale_generator: {method: ...}``).
        Greedy decoding by an untrained model gives every seed the same data: synthesized once,
        for the first seed."""
        from radis.settings import DecodingParams

        decoding = DecodingParams.from_config(self.config["decoding"][self.decoding_of(kind)])
        return not decoding.greedy or "method" in self.generator_entry(kind)

    def synthesis(self) -> list[tuple[str, str]]:
        """(backbone, kind) of every synthesis job, in grid order."""
        jobs = {(b, kind): None for b in self.backbones for m in self.trained(b) if (kind := self.synth_kind(m))}
        return list(jobs)

    @staticmethod
    def decoding_of(kind: str) -> str:
        """The decoding section (and ``radis synthesize --kind``) of a kind or its seed's variant."""
        kind = method_of(kind)
        return "rationale" if kind.startswith(EXTERNAL_KIND) else kind

    def generator_entry(self, kind: str) -> dict:
        """The rationale_generator entry of a Table 5 kind, else {}."""
        kind = method_of(kind)
        if not kind.startswith(EXTERNAL_KIND):
            return {}
        return self.config["methods"][kind.removeprefix(EXTERNAL_KIND)]["rationale_generator"]

    def generator(self, backbone: str, kind: str) -> tuple[str, str]:
        """(catalogue backbone, model) that synthesizes ``kind`` data for ``backbone``: the backbone
        itself, another catalogue model, or a method trained in the same seed's chain."""
        entry = self.generator_entry(kind)
        if "method" in entry:
            return backbone, variant(entry["method"], seed_of(kind, self.seeds), self.seeds)
        return entry.get("backbone", backbone), BASE
