"""Drift from backbone: how far a fine-tuned model moved away from its backbone, without a judge.

Why: the paper's claim is relative (Vanilla-FT loses general ability that RaDis keeps), but its
general-ability numbers need GPT-4 judges and a model large enough to be judged. This measure
needs neither and works the same for a 135M model on CPU as for a 7B one on a GPU: on the
general-ability prompts (MT-Bench first turns, AlpacaEval instructions, AdvBench behaviours), take
the backbone's own greedy answers and, along each answer, compare the next-token distributions of
the backbone and the trained model (one forward pass per answer per model):

* KL = mean over answer tokens of KL(backbone ‖ trained), in nats: how much probability the
  trained model moved away from what the backbone would say;
* ΔNLL = the trained model's mean NLL of the backbone's answers minus the backbone's own, in nats
  per token: how much less likely the backbone's behaviour became.

Both are 0 for a model equal to its backbone. Answer tokens are the assistant reply through its
end-of-turn token, as training scores them (:func:`radis.training.features.build_features`), after the prompt
rendered with the chat template. Means are over all answer tokens of all answers (long answers
weigh more), overall and per prompt set. Not in the paper.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from radis.io import InputError
from radis.settings import DriftStep

#: the prompt sets, in the order of the result file; each is a general-ability response set
DRIFT_SETS = ("mtbench", "alpacaeval", "advbench")


def answers_reuse_responses(general: dict) -> bool:
    """Whether the backbone's general-ability responses (generate_general of ``base``) are its
    greedy answers to exactly the drift prompts: every drift set is answered there, greedily
    (MT-Bench answers at FastChat's per-category temperatures are not); otherwise the drift answers
    are generated once per backbone (rule drift_answers)."""
    from radis.benchmarks import response_sets
    from radis.settings import DecodingParams, default

    answered = set(response_sets(general["benchmarks"]))
    return set(DRIFT_SETS) <= answered and all(
        DecodingParams.from_config(general[s]["decoding"]).greedy
        and (s != "mtbench" or general[s].get("temperatures", default("$defs.general_eval.temperatures")) == "greedy") for s in DRIFT_SETS)


def answers_from_responses(response_set: str, records: Sequence[dict]) -> list[dict]:
    """``{set, id, prompt, answer}`` per answer of a general-ability responses file
    (``results/eval/{backbone}/base/{set}.responses.jsonl``): MT-Bench's first turn only (the
    second turn's prompt holds the model's own first answer, which differs per model)."""
    out = []
    for i, r in enumerate(records):
        try:
            if response_set == "mtbench":
                item = {"id": r["question_id"], "prompt": r["turns"][0], "answer": r["answers"][0]}
            elif response_set == "alpacaeval":
                item = {"id": i, "prompt": r["instruction"], "answer": r["output"]}
            elif response_set == "advbench":
                item = {"id": r["id"], "prompt": r["goal"], "answer": r["response"]}
            else:
                raise InputError(f"no drift prompts for response set {response_set!r} (known: {', '.join(DRIFT_SETS)})")
        except (KeyError, IndexError, TypeError) as e:
            raise InputError(f"{response_set} response {i}: missing {e}") from None
        out.append({"set": response_set, **item})
    return out


def token_drift(backbone_logits, model_logits, targets):
    """Per answer token: KL(backbone ‖ model), the backbone's NLL and the model's NLL of ``targets``.

    ``backbone_logits`` and ``model_logits`` are ``[n, vocab]`` logits at the positions that predict
    the ``n`` answer tokens ``targets``; computed in float32 whatever the models' dtype. Pure.
    """
    import torch

    log_p = torch.log_softmax(backbone_logits.float(), dim=-1)
    log_q = torch.log_softmax(model_logits.float(), dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    index = targets.long().unsqueeze(-1)
    return kl, -log_p.gather(-1, index).squeeze(-1), -log_q.gather(-1, index).squeeze(-1)


def summarize(per_answer: Sequence[dict]) -> dict:
    """Token-weighted means of the per-answer sums, overall and per prompt set."""
    def means(rows: Sequence[dict]) -> dict:
        n = sum(r["n_tokens"] for r in rows)
        if not n:
            return {"kl": None, "nll_backbone": None, "nll_model": None, "delta_nll": None, "n_answers": len(rows),
                    "n_tokens": 0}
        kl, nll_b, nll_m = (sum(r[k] for r in rows) / n for k in ("kl_sum", "nll_backbone_sum", "nll_model_sum"))
        return {"kl": kl, "nll_backbone": nll_b, "nll_model": nll_m, "delta_nll": nll_m - nll_b,
                "n_answers": len(rows), "n_tokens": n}

    sets = list(dict.fromkeys(r["set"] for r in per_answer))
    return {**means(per_answer), "per_set": {s: means([r for r in per_answer if r["set"] == s]) for s in sets}}


def measure_drift(backbone_dir: Path, model_dir: Path, answers: Sequence[dict], *, batch_size: int = 8,
                  dtype: str = "float32", trust_remote_code: bool = False) -> list[dict]:
    """Per answer ``{set, id, n_tokens, truncated, kl_sum, nll_backbone_sum, nll_model_sum}``.

    Both models are loaded side by side and see the same right-padded batches (sorted by length),
    so each answer costs one forward pass per model. The backbone's tokenizer renders the prompts:
    a trained model shares it (training saves it with the adapter).
    """
    import torch
    from tqdm.auto import tqdm

    from radis.generation import load_model, load_tokenizer
    from radis.prompts import assistant, user
    from radis.training.features import IGNORE_INDEX, build_features

    tokenizer = load_tokenizer(backbone_dir, trust_remote_code)
    backbone = load_model(backbone_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    model = load_model(model_dir, dtype=dtype, trust_remote_code=trust_remote_code)
    device = backbone.device
    if backbone.config.vocab_size != model.config.vocab_size:
        raise InputError(f"{model_dir}: vocabulary of {model.config.vocab_size} tokens, its backbone "
                         f"{backbone_dir} has {backbone.config.vocab_size}: not a model of this backbone")
    context = getattr(backbone.config, "max_position_embeddings", None) or sys.maxsize
    features = [build_features(tokenizer, [user(a["prompt"]), assistant(a["answer"])], context) for a in answers]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    order = sorted(range(len(answers)), key=lambda i: len(features[i].input_ids))
    results: list[dict | None] = [None] * len(answers)
    with torch.inference_mode(), tqdm(total=len(answers), desc="drift", unit="answer", mininterval=5) as bar:
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            width = max(len(features[i].input_ids) for i in batch)
            ids = torch.tensor([features[i].input_ids + [pad] * (width - len(features[i].input_ids)) for i in batch],
                               device=device)
            labels = torch.tensor([features[i].labels + [IGNORE_INDEX] * (width - len(features[i].labels))
                                   for i in batch], device=device)
            mask = (torch.arange(width, device=device)[None, :]
                    < torch.tensor([len(features[i].input_ids) for i in batch], device=device)[:, None]).long()
            # position t predicts token t+1: keep the positions whose next token is an answer token
            targets = labels[:, 1:]
            keep = targets != IGNORE_INDEX
            logits_b = backbone(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
            logits_m = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
            kl, nll_b, nll_m = token_drift(logits_b, logits_m, targets[keep])
            row_of = torch.arange(len(batch), device=device)[:, None].expand_as(keep)[keep]
            for j, i in enumerate(batch):
                mine = row_of == j
                results[i] = {"set": answers[i]["set"], "id": answers[i]["id"], "n_tokens": int(mine.sum()),
                              "truncated": features[i].truncated, "kl_sum": float(kl[mine].sum()),
                              "nll_backbone_sum": float(nll_b[mine].sum()), "nll_model_sum": float(nll_m[mine].sum())}
            bar.update(len(batch))
    return results  # type: ignore[return-value]


def drift(backbone_model: str, model: str, answers_dir: str, backbone: str, method: str, out: str,
          settings: DriftStep) -> None:
    """``radis drift``: drift from backbone of one trained model along the backbone's greedy
    general-ability answers (``{answers_dir}/{set}.responses.jsonl``)."""
    import json

    from radis.device import enforce_device
    from radis.io import read_jsonl, write_json
    from radis.provenance import config_hash, provenance

    enforce_device("drift", settings.device)
    answers = [a for name in DRIFT_SETS
               for a in answers_from_responses(name, read_jsonl(Path(answers_dir) / f"{name}.responses.jsonl"))]
    per_answer = measure_drift(Path(backbone_model), Path(model), answers, batch_size=settings.batch_size,
                               dtype=settings.dtype, trust_remote_code=settings.trust_remote_code)
    metrics = summarize(per_answer)
    write_json(out, {
        "backbone": backbone, "method": method, "metrics": metrics, "per_answer": per_answer,
        "provenance": provenance(config_hash=config_hash(settings.given), settings=settings.given, backbone_model=backbone_model,
                                 model=model, answers_dir=answers_dir),
    })
    print(json.dumps({k: v for k, v in metrics.items() if k != "per_set"}))
