"""Build a tiny, randomly initialised chat model offline, for tests that need a real model process.

A 1-layer Llama (hidden size 16) with a byte-level tokenizer (the 256 byte symbols, no merges, so
any text round-trips) and a ChatML chat template ending turns with ``<|im_end|>``, as the embedded
SmolLM2 does. It loads in well under a second, where the embedded model takes ~30 s to
materialise; its outputs are random, so tests use it for mechanics (servers, clients), not text.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% if not (loop.last and continue_final_message) %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|im_start|>", "<|im_end|>"]


def build_tiny_lm(root: str | Path, seed: int = 0) -> Path:
    """Write the tiny model to ``root`` (a Hugging Face model directory) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    root = Path(root)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=SPECIAL[1], pad_token=SPECIAL[1],
                                        additional_special_tokens=[SPECIAL[0]])
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(root)

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(root)
    return root
