"""A cost plan before a run (``radis plan``): per stage the jobs, the work in tokens, the compute
(GPU-hours on the profile's GPUs, or CPU job minutes for a CPU config), judge calls and tokens (priced
where a judge gives prices) and the disk each stage writes.

Why: a paper run costs hundreds of GPU-hours and API dollars; the numbers should be known before
the first job, from the config and the real data rather than guessed. Everything here is an
estimate from stated assumptions (``ASSUMPTIONS`` is printed with the plan):

- Token counts come from the real data the run reads (the ALMA/WMT22 files and the general-ability
  sets, sized by the config's limits), at UTF-8 bytes / 4 per token (the judge client's chars/4
  estimate, counted in bytes so that Cyrillic and Chinese are not undercounted).
- Generated tokens: a translation, a Seq-KD answer or an SDFT paraphrase is as long as its
  reference; a rationale, an open answer, a GSM8K solution or a judgement runs to its
  ``max_new_tokens`` (an upper bound).
- Compute is FLOP-based: 6·N·tokens for training (an upper bound for LoRA, which skips weight
  gradients), 2·N·tokens for prompts and generated tokens; N from the model's name (``7b``,
  ``135m``). On an A100 (312 TFLOP/s bf16 dense): 35% MFU for training and prompts, 10% for
  decoding (memory-bound even when vLLM batches it). On CPU the rates are the embedded model's
  measured ones on 2 cores (DESIGN.md, benchmarks/RESULTS.md) turned into FLOP/s, plus a start-up
  time per job. Nothing here was measured on a GPU (benchmarks/gpu.py has not run on one).
"""

from radis.plan.estimate import SHARED_ALMA, SHARED_GENERAL, make_plan
from radis.plan.model import BYTES_PER_TOKEN, PROMPT_OVERHEAD_TOKENS, Plan, Stage, parameters, text_tokens
from radis.plan.render import print_plan, render

__all__ = ["BYTES_PER_TOKEN", "PROMPT_OVERHEAD_TOKENS", "SHARED_ALMA", "SHARED_GENERAL", "Plan", "Stage", "make_plan",
           "parameters", "print_plan", "render", "text_tokens"]
