"""Records every model load of the process it starts in (tests/test_bad_input.py puts this folder
on PYTHONPATH, so Python imports it at start-up).

Each loader the workflow's models go through is wrapped, when its module is imported, to append
the model's name to the file ``RADIS_MODEL_LOAD_MARKER`` names, before it loads:
transformers' ``PreTrainedModel.from_pretrained`` (Auto classes, peft, the GGUF conversion),
COMET's ``load_from_checkpoint`` (the scoring jobs) and vLLM's ``LLM`` (the vllm backend, lm-eval's
vllm model). A log phrase can change with a library version; this cannot miss a load.
"""

import importlib.abc
import importlib.machinery
import os
import sys

MARKER = os.environ.get("RADIS_MODEL_LOAD_MARKER")


def _record(kind: str, name) -> None:
    with open(MARKER, "a", encoding="utf-8") as f:
        f.write(f"{kind} {name}\n")


def _wrap_transformers(module) -> None:
    load = module.PreTrainedModel.from_pretrained.__func__

    def from_pretrained(cls, *args, **kwargs):
        _record(cls.__name__, args[0] if args else kwargs.get("pretrained_model_name_or_path"))
        return load(cls, *args, **kwargs)

    module.PreTrainedModel.from_pretrained = classmethod(from_pretrained)


def _wrap_comet(module) -> None:
    load = module.load_from_checkpoint

    def load_from_checkpoint(checkpoint_path, *args, **kwargs):
        _record("COMET", checkpoint_path)
        return load(checkpoint_path, *args, **kwargs)

    module.load_from_checkpoint = load_from_checkpoint


def _wrap_vllm(module) -> None:
    init = module.LLM.__init__

    def __init__(self, *args, **kwargs):
        _record("vLLM", kwargs.get("model", args[0] if args else None))
        return init(self, *args, **kwargs)

    module.LLM.__init__ = __init__


#: module → how its loader is wrapped (``comet/__init__.py`` imports load_from_checkpoint from
#: comet.models after it ran, so it gets the wrapped one)
WRAPPERS = {"transformers.modeling_utils": _wrap_transformers, "comet.models": _wrap_comet,
            "vllm.entrypoints.llm": _wrap_vllm}


class _Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in WRAPPERS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            WRAPPERS[name](module)

        spec.loader.exec_module = exec_and_wrap
        return spec


if MARKER:
    sys.meta_path.insert(0, _Probe())
