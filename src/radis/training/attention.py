"""What a micro-batch computes: logits only where a label is learned and, on CPU, no padding.

Logits are computed only where a label is learned (the 49k-vocabulary head and its softmax are a
fifth of the compute of a small model, and prompts are half the tokens); the collator finds those
positions on the CPU. On CPU no padding is computed at all: a micro-batch runs as its sequences
laid end to end, with position ids restarting per sequence and attention confined to each
(:func:`segment_attention`). Both give the loss a plain forward pass gives, so they are used only
where that holds (:func:`target_only_logits_ok`).
"""

from __future__ import annotations

from radis.training.features import IGNORE_INDEX

#: architectures whose logits are exactly ``lm_head(final hidden state)`` (no soft-capping, no
#: scaling), so computing them only at labelled positions gives the same loss.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})
#: attention implementation name of :func:`segment_attention`
SEGMENT_ATTENTION = "radis_segments"


def target_only_logits_ok(model) -> bool:
    """Whether logits at the labelled positions alone give ``model`` its loss exactly (a plain head
    of :data:`PLAIN_HEAD_MODEL_TYPES`, reachable past its decoder)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    return (getattr(config, "model_type", None) in PLAIN_HEAD_MODEL_TYPES
            and hasattr(base, "get_decoder") and base.get_output_embeddings() is not None
            and not getattr(config, "final_logit_softcapping", None) and not getattr(config, "logit_scale", None))


def segment_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                      segment_lengths=None, **kwargs):
    """SDPA over unpadded sequences laid end to end: causal attention within each segment only,
    exactly what each sequence gets on its own row. Without ``segment_lengths`` it is plain SDPA."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if segment_lengths is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    parts = zip(query.split(segment_lengths, dim=2), key.split(segment_lengths, dim=2),
                value.split(segment_lengths, dim=2))
    outs = [sdpa_attention_forward(module, q, k, v, None, dropout=dropout, scaling=scaling, is_causal=True)[0]
            for q, k, v in parts]
    return torch.cat(outs, dim=1), None


def register_segment_attention() -> None:
    """Make :func:`segment_attention` selectable by name, with the masks SDPA gets."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SEGMENT_ATTENTION, segment_attention)
    AttentionMaskInterface.register(SEGMENT_ATTENTION, sdpa_mask)


class PaddingCounter:
    """Wraps a collator and counts real and padded tokens (reported as padding waste)."""

    def __init__(self, collator):
        self.collator, self.real, self.padded = collator, 0, 0

    def __call__(self, examples):
        batch = self.collator(examples)
        self.real += int(batch["attention_mask"].sum())
        self.padded += batch["input_ids"].numel()
        return batch

    @property
    def waste(self) -> float:
        return 1 - self.real / self.padded if self.padded else 0.0


class TargetCollator(PaddingCounter):
    """The padding collator plus, worked out here on the CPU (so that a training step never waits
    for the GPU to find them), the positions whose next token is learned and those tokens:
    ``radis_index`` into the flattened batch (or, ``unpadded``, into its real tokens end to end),
    ``radis_targets``, and ``radis_lengths`` of the sequences."""

    unpadded = False

    def __call__(self, examples):
        import torch

        batch = super().__call__(examples)
        real = batch["attention_mask"].bool()
        # the label each position predicts (the next token's), as transformers' ForCausalLMLoss shifts
        targets = torch.nn.functional.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)
        targets = targets[real] if self.unpadded else targets.flatten()
        index = (targets != IGNORE_INDEX).nonzero().flatten()
        batch.update(radis_index=index, radis_targets=targets[index], radis_lengths=real.sum(dim=1))
        return batch
