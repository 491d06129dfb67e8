"""Records every model load of the process it starts in (tests/test_bad_input.py puts this folder
on PYTHONPATH, so Python imports it at start-up).

When transformers' ``modeling_utils`` is imported, ``PreTrainedModel.from_pretrained`` (the one
path by which every model of the workflow is loaded: Auto classes, peft, the GGUF conversion) is
wrapped to append the model's name to the file ``RADIS_MODEL_LOAD_MARKER`` names, before it loads.
A log phrase can change with a library version; this cannot miss a load.
"""

import importlib.abc
import importlib.machinery
import os
import sys

MARKER = os.environ.get("RADIS_MODEL_LOAD_MARKER")


class _Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "transformers.modeling_utils":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            load = module.PreTrainedModel.from_pretrained.__func__

            def from_pretrained(cls, *args, **kwargs):
                with open(MARKER, "a", encoding="utf-8") as f:
                    f.write(f"{cls.__name__} {args[0] if args else kwargs.get('pretrained_model_name_or_path')}\n")
                return load(cls, *args, **kwargs)

            module.PreTrainedModel.from_pretrained = classmethod(from_pretrained)

        spec.loader.exec_module = exec_and_wrap
        return spec


if MARKER:
    sys.meta_path.insert(0, _Probe())
