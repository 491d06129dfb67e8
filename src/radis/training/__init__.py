"""Fine-tuning (LoRA or full) with loss on assistant tokens only, checkpoints, resume, and merge.

One module per concern: ``features`` (what is learned from a chat example), ``sampler`` (which
examples each optimizer step and micro-batch get), ``attention`` (what a micro-batch computes:
logits at labelled positions, no padding on CPU), ``checkpoints`` (which checkpoint a run may
resume), ``trainer`` (the run itself: ``train``) and ``merge`` (adapter into backbone).
"""
