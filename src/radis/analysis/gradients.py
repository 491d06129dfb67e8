"""Figure 4 (paper §5.3): does the regularisation term pull against the MT loss, layer by layer?

Both Seq-KD and RaDis add a self-distillation term to the MT loss (paper Eq. 4 and 5):

* Seq-KD: MT loss −log P(y|x) on the sequence (x, y); regulariser −log P(y′|x) on (x, y′), the
  model's own translation. Same input, different outputs: the paper expects conflict.
* RaDis: both terms live on one sequence (x, ŷ = y + r): MT loss −log P(y|x) on the reference
  tokens of ŷ, regulariser −log P(r|y,x) on the rationale tokens (through the end-of-turn token,
  which ends ŷ). The sum of the two is exactly the RaDis training loss (Eq. 2 = Eq. 4).

Gradient features follow LESS (Xia et al. 2024): gradients with respect to LoRA parameters. A
fresh LoRA has B = 0, so only the B matrices get gradients, and those equal the full weight
gradient times Aᵀ, a random low-rank projection, which is what LESS uses to keep features
small while preserving inner products. Per decoder layer, all LoRA gradients of that layer are
concatenated; each example's term gradient is that of its mean token loss; gradients are summed
over the validation sample (n per direction, paper: 128) and the cosine of the two sums is
reported per layer ("layers"). The mean of per-example cosines is reported beside it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radis.analysis.rationales import direction_of
from radis.data import seeded_rng
from radis.prompts import assistant, user
from radis.settings import Figure4Step
from radis.training.features import IGNORE_INDEX, build_features, split_turn

METHODS = ("seqkd", "radis")
METHOD_LABELS = {"seqkd": "Seq-KD", "radis": "RaDis"}
#: decoder-layer index in a parameter name (llama/mistral/qwen ``layers.N``, gpt2 ``h.N``, ...)
_LAYER = re.compile(r"\.(?:layers|layer|h|blocks|block)\.(\d+)\.")


@dataclass(frozen=True)
class LossTerm:
    """One loss term of one example: token ids and labels (``IGNORE_INDEX`` outside the term)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def n_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass(frozen=True)
class TermPair:
    """The MT term and the regularisation term of one validation example."""

    id: str
    direction: str
    mt: LossTerm
    reg: LossTerm


def split_enriched_labels(tokenizer, instruction: str, reference: str, enriched_response: str,
                          max_length: int) -> tuple[LossTerm, LossTerm]:
    """RaDis' two terms on one sequence (x, ŷ): labels of the reference tokens and of the rationale
    tokens (with the end-of-turn token). Together they are exactly the training labels of
    ``build_features``; a token is the reference's when it starts before the reference ends."""
    if not enriched_response.startswith(reference):
        raise ValueError("the enriched response does not start with the reference")
    messages = [user(instruction), assistant(enriched_response)]
    features = build_features(tokenizer, messages, max_length)
    turn = split_turn(tokenizer, messages)
    offsets = tokenizer(turn.reply, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    ref_end = len(reference) - (len(enriched_response) - len(enriched_response.lstrip()))
    in_reference = ([False] * len(turn.prompt_ids) + [begin < ref_end for begin, _ in offsets]
                    + [False] * len(turn.closing_ids))
    mt, reg = [], []
    for label, ref in zip(features.labels, in_reference):
        mt.append(label if label != IGNORE_INDEX and ref else IGNORE_INDEX)
        reg.append(label if label != IGNORE_INDEX and not ref else IGNORE_INDEX)
    ids = tuple(features.input_ids)
    return LossTerm(ids, tuple(mt)), LossTerm(ids, tuple(reg))


def _term(tokenizer, instruction: str, response: str, max_length: int) -> LossTerm:
    f = build_features(tokenizer, [user(instruction), assistant(response)], max_length)
    return LossTerm(tuple(f.input_ids), tuple(f.labels))


def term_pair(tokenizer, record: Mapping[str, Any], method: str, max_length: int) -> TermPair | None:
    """The two terms of ``method`` for one synthesized record; None when one of them is empty
    (no rationale / no self-translation, or truncated away by ``max_length``)."""
    if method == "seqkd":
        if not (record.get("seqkd_response") or "").strip():
            return None
        mt = _term(tokenizer, record["instruction"], record["reference"], max_length)
        reg = _term(tokenizer, record["instruction"], record["seqkd_response"], max_length)
    elif method == "radis":
        if not (record.get("rationale") or "").strip():
            return None
        mt, reg = split_enriched_labels(tokenizer, record["instruction"], record["reference"],
                                        record["enriched_response"], max_length)
    else:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if not mt.n_tokens or not reg.n_tokens:
        return None
    return TermPair(record["id"], direction_of(record), mt, reg)


def select_examples(tokenizer, records: Sequence[Mapping[str, Any]], method: str, n: int, seed: int,
                    max_length: int) -> tuple[list[TermPair], dict[str, int]]:
    """A seeded validation sample of up to ``n`` usable examples per direction.

    Each direction's records are shuffled with a seed of their own and the first ``n`` usable ones
    kept, so Seq-KD and RaDis (whose synthesized files hold the same sentences in the same order)
    analyse the same sentences wherever both are usable. Returns the pairs and, per direction, how
    many records were passed over as unusable.
    """
    by_direction: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_direction.setdefault(direction_of(r), []).append(r)
    pairs, skipped = [], {}
    for direction in sorted(by_direction):
        rows = by_direction[direction]
        order = list(range(len(rows)))
        seeded_rng(seed, direction).shuffle(order)
        taken = passed = 0
        for i in order:
            if taken == n:
                break
            pair = term_pair(tokenizer, rows[i], method, max_length)
            if pair is None:
                passed += 1
                continue
            pairs.append(pair)
            taken += 1
        skipped[direction] = passed
    return pairs, skipped


def attach_lora(model, r: int, alpha: float | None = None, target_modules: str | list[str] = "all-linear",
                seed: int = 0):
    """A fresh LoRA (dropout 0) with a seeded initialisation: the A matrices are the projection."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    config = LoraConfig(r=r, lora_alpha=alpha if alpha is not None else 2 * r, lora_dropout=0.0,
                        target_modules=target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def layer_parameters(model) -> dict[int, list[tuple[str, Any]]]:
    """Trainable (LoRA) parameters grouped by decoder layer index, in a fixed order."""
    layers: dict[int, list[tuple[str, Any]]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        match = _LAYER.search(name)
        if match is None:
            raise ValueError(f"trainable parameter {name} belongs to no decoder layer")
        layers.setdefault(int(match.group(1)), []).append((name, param))
    if not layers:
        raise ValueError("the model has no trainable parameters (attach a LoRA first)")
    return dict(sorted(layers.items()))


def term_loss(logits, term_labels):
    """Mean next-token cross-entropy over the term's labelled tokens (logits of one sequence)."""
    import torch

    labels = torch.as_tensor(term_labels, device=logits.device)[1:]
    return torch.nn.functional.cross_entropy(logits[0, :-1].float(), labels, ignore_index=IGNORE_INDEX)


def term_gradients(model, layers: Mapping[int, list[tuple[str, Any]]],
                   terms: Sequence[LossTerm]) -> tuple[list[list[Any]], list[float]]:
    """Per term: one flat float32 gradient vector per layer, and the term's loss. Terms on the same
    sequence share one forward pass (RaDis' MT and rationale terms)."""
    import torch

    params = [p for group in layers.values() for _, p in group]
    sizes = [sum(p.numel() for _, p in group) for group in layers.values()]
    device = next(model.parameters()).device
    grads: list[list[Any]] = [[] for _ in terms]
    losses = [0.0 for _ in terms]
    by_sequence: dict[tuple[int, ...], list[int]] = {}
    for i, term in enumerate(terms):
        by_sequence.setdefault(term.input_ids, []).append(i)
    for ids, members in by_sequence.items():
        logits = model(input_ids=torch.tensor([ids], device=device)).logits
        for k, i in enumerate(members):
            loss = term_loss(logits, terms[i].labels)
            g = torch.autograd.grad(loss, params, retain_graph=k < len(members) - 1, allow_unused=True)
            flat = torch.cat([(x if x is not None else torch.zeros_like(p)).reshape(-1).float()
                              for x, p in zip(g, params)])
            grads[i] = list(torch.split(flat, sizes))
            losses[i] = float(loss.detach())
    return grads, losses


def _cosine(a, b) -> float | None:
    import torch

    a, b = a.double(), b.double()
    na, nb = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
    if na == 0 or nb == 0:
        return None
    return float(torch.clamp(torch.dot(a, b) / (na * nb), -1.0, 1.0))


def layer_similarity(model, pairs: Sequence[TermPair]) -> dict:
    """Per-layer cosine between the summed MT-term and regulariser gradients over ``pairs``."""
    layers = layer_parameters(model)
    sum_mt: list[Any] | None = None
    sum_reg: list[Any] | None = None
    per_example: list[list[float | None]] = []
    loss_mt = loss_reg = 0.0
    for pair in pairs:
        (g_mt, g_reg), (l_mt, l_reg) = term_gradients(model, layers, [pair.mt, pair.reg])
        sum_mt = g_mt if sum_mt is None else [s + g for s, g in zip(sum_mt, g_mt)]
        sum_reg = g_reg if sum_reg is None else [s + g for s, g in zip(sum_reg, g_reg)]
        per_example.append([_cosine(a, b) for a, b in zip(g_mt, g_reg)])
        loss_mt += l_mt
        loss_reg += l_reg
    if sum_mt is None:
        raise ValueError("no usable validation examples")
    cos = [_cosine(a, b) for a, b in zip(sum_mt, sum_reg)]
    mean_example = []
    for j in range(len(cos)):
        vals = [row[j] for row in per_example if row[j] is not None]
        mean_example.append(sum(vals) / len(vals) if vals else None)
    return {
        "layer_index": list(layers),
        "layers": cos,
        "layers_mean_example_cosine": mean_example,
        "positive_layers": sum(1 for c in cos if c is not None and c > 0),
        "negative_layers": sum(1 for c in cos if c is not None and c < 0),
        "num_layers": len(cos),
        "mean_loss_mt": loss_mt / len(pairs),
        "mean_loss_reg": loss_reg / len(pairs),
        "lora_params_per_layer": [sum(p.numel() for _, p in group) for group in layers.values()],
    }


def gradient_similarity(model_dir: str | Path, records: Sequence[Mapping[str, Any]], method: str, n: int,
                        seed: int, max_length: int = 512, lora_r: int = 8, lora_alpha: float | None = None,
                        target_modules: str | list[str] = "all-linear", adapter_dir: str | Path | None = None,
                        device: str | None = None, dtype: str = "float32",
                        trust_remote_code: bool = False) -> dict:
    """Figure 4's curve for one method: per-layer cosine of MT-loss and regulariser gradients.

    ``records`` are the synthesized records of all directions (``seqkd`` or ``rationale`` files);
    ``n`` examples per direction are analysed (paper: 128). ``adapter_dir`` loads a trained LoRA
    instead of a fresh one (LESS takes gradients of a warmed-up model); by default a fresh LoRA of
    rank ``lora_r`` on all linear layers is attached with ``seed``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    pairs, skipped = select_examples(tokenizer, records, method, n, seed, max_length)
    if not pairs:
        raise ValueError(f"{method}: no usable validation examples among {len(records)} records")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype),
                                                 trust_remote_code=trust_remote_code)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    else:
        model = attach_lora(model, lora_r, lora_alpha, target_modules, seed)
    model.to(device).eval()
    result = layer_similarity(model, pairs)
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.direction] = counts.get(p.direction, 0) + 1
    return {
        "method": method,
        "model_dir": str(model_dir),
        **result,
        "n": len(pairs),
        "n_per_direction": n,
        "examples_per_direction": counts,
        "skipped_unusable": skipped,
        "ids": [p.id for p in pairs],
        "mt_tokens": sum(p.mt.n_tokens for p in pairs),
        "reg_tokens": sum(p.reg.n_tokens for p in pairs),
        "seed": seed,
        "max_length": max_length,
        "lora": ({"adapter_dir": str(adapter_dir)} if adapter_dir is not None else
                 {"r": lora_r, "alpha": lora_alpha if lora_alpha is not None else 2 * lora_r,
                  "target_modules": target_modules, "init_seed": seed}),
        "device": device,
        "dtype": dtype,
        "aggregation": "cosine of per-layer LoRA gradients summed over examples (each term: mean token loss)",
        "seconds": round(time.monotonic() - started, 2),
    }


def plot_figure4(results: Mapping[str, Mapping[str, Any]], path: str | Path) -> dict[str, int]:
    """Figure 4 as a PNG: x = layer, y = cosine similarity, one curve per method, a zero line.
    Returns each method's number of positive layers (the counts the paper quotes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radis.io import write_png

    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=150)
    markers = {"seqkd": "s", "radis": "o"}
    counts = {}
    for method, res in results.items():
        xs = [i + 1 for i, c in zip(res["layer_index"], res["layers"]) if c is not None]
        ys = [c for c in res["layers"] if c is not None]
        counts[method] = res["positive_layers"]
        name = METHOD_LABELS.get(method, method)
        label = f"{name} ({res['positive_layers']}/{res['num_layers']} layers > 0)"
        ax.plot(xs, ys, marker=markers.get(method, "^"), markersize=3.5, linewidth=1.2, label=label)
    ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("Layer")
    ax.set_ylabel("Cosine similarity")
    ax.set_title("Gradient similarity: regularization term vs MT loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    write_png(path, fig)
    return counts


def figure4(model: str, rationale_dir: str, seqkd_dir: str, directions: list[str], out: str, result: str,
            settings: Figure4Step) -> None:
    """``radis figure4``: per-layer cosine of the MT-loss and regulariser gradients, Seq-KD and RaDis."""
    import json

    from radis.analysis.rationales import records_by_direction
    from radis.device import enforce_device
    from radis.io import write_json
    enforce_device("figure4", settings.device)
    probe = settings.probe
    results = {}
    for method, synth_dir in (("seqkd", seqkd_dir), ("radis", rationale_dir)):
        records = [r for rs in records_by_direction(synth_dir, directions).values() for r in rs]
        results[method] = gradient_similarity(Path(model), records, method, probe.per_direction, settings.seed,
                                              max_length=probe.max_length, lora_r=probe.lora_r)
    positive = plot_figure4(results, Path(out))
    write_json(result, {"positive_layers": positive, "results": results})
    print(json.dumps(positive))
