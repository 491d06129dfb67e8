"""Data synthesis by the backbone itself: RaDis rationales, Seq-KD translations, SDFT paraphrases.

Each function takes the prepared training records of one direction, renders prompts in the
backbone's chat format, asks a :class:`~radis.generation.Generator`, and returns the records
extended with the synthesized field plus a small summary (counts, rates) for provenance.
Prompt construction and post-processing are pure functions so they are tested without a model.
"""

from __future__ import annotations

from collections.abc import Callable

from radis.config import DecodingParams
from radis.generation import Generation, Generator
from radis.languages import Direction
from radis.prompts import (
    assistant,
    draw_templates,
    render_continuation_prompt,
    render_generation_prompt,
    translation_instruction,
    user,
)

KINDS = ("rationale", "seqkd", "sdft")

#: SDFT's general distillation template (Yang et al. 2024, ``alpaca_distill_using``).
SDFT_SYSTEM = (
    "Below are an instruction that describes a task along with a reference answer. "
    "Using the reference answer as a guide, write your own response."
)
SDFT_USER = "### Instruction:\n{instruction}\n\n### Reference Answer:\n{response}\n\n### Response:\n"
#: SDFT rejects a paraphrase that talks about the distillation set-up instead of answering.
SDFT_REJECT_PHRASES = ("reference answer", "your response", "my response", "your own response", "now it's your turn")
SDFT_REJECT_PREFIX = "your turn"


def with_instructions(records: list[dict], direction: Direction, seed: int) -> list[dict]:
    """Attach the instruction (one of the 5 templates, drawn per sample with a fixed seed).

    Every method draws the same way, so Vanilla-FT, Seq-KD, SDFT and RaDis see the same
    instruction for the same sentence pair.
    """
    templates = draw_templates(len(records), seed, str(direction))
    return [
        {**r, "template": t, "instruction": translation_instruction(direction, r["source"], t)}
        for r, t in zip(records, templates)
    ]


def enriched_response(reference: str, rationale: str) -> str:
    """ŷ = CONCAT(y, r); an empty rationale (the model closed the turn at once) leaves y alone."""
    rationale = rationale.rstrip()
    return reference + rationale if rationale.strip() else reference


def rationale_prompts(tokenizer, records: list[dict]) -> list[str]:
    return [render_continuation_prompt(tokenizer, [user(r["instruction"]), assistant(r["reference"])]) for r in records]


def seqkd_prompts(tokenizer, records: list[dict]) -> list[str]:
    return [render_generation_prompt(tokenizer, [user(r["instruction"])]) for r in records]


def sdft_messages(instruction: str, response: str) -> list[dict]:
    return [
        {"role": "system", "content": SDFT_SYSTEM},
        user(SDFT_USER.format(instruction=instruction, response=response)),
    ]


def sdft_prompts(tokenizer, records: list[dict]) -> list[str]:
    """SDFT prompts; chat formats without a system role get the system text folded into the user turn."""
    from jinja2.exceptions import TemplateError

    prompts = []
    for r in records:
        messages = sdft_messages(r["instruction"], r["reference"])
        try:
            prompts.append(render_generation_prompt(tokenizer, messages))
        except TemplateError:
            folded = [user(messages[0]["content"] + "\n\n" + messages[1]["content"])]
            prompts.append(render_generation_prompt(tokenizer, folded))
    return prompts


def sdft_rejected(paraphrase: str) -> bool:
    text = paraphrase.strip().lower()
    return not text or any(p in text for p in SDFT_REJECT_PHRASES) or text.startswith(SDFT_REJECT_PREFIX)


def _gen_fields(g: Generation) -> dict:
    return {"generated_tokens": g.n_tokens, "finished": g.finished}


def add_rationales(records: list[dict], generations: list[Generation]) -> list[dict]:
    out = []
    for r, g in zip(records, generations, strict=True):
        rationale = g.text.rstrip() if g.text.strip() else ""
        out.append({**r, "rationale": rationale, "enriched_response": enriched_response(r["reference"], rationale),
                    **_gen_fields(g)})
    return out


def add_seqkd(records: list[dict], generations: list[Generation]) -> list[dict]:
    return [{**r, "seqkd_response": g.text.strip(), **_gen_fields(g)} for r, g in zip(records, generations, strict=True)]


def add_sdft(records: list[dict], generations: list[Generation]) -> list[dict]:
    out = []
    for r, g in zip(records, generations, strict=True):
        rejected = sdft_rejected(g.text)
        out.append({**r, "sdft_paraphrase": g.text.strip(), "sdft_rejected": rejected,
                    "sdft_response": r["reference"] if rejected else g.text.strip(), **_gen_fields(g)})
    return out


def summarize(kind: str, records: list[dict]) -> dict:
    """Counts and rates of one synthesized file (the paper reports the rationale rate, §3.1)."""
    n = len(records)
    summary = {"n": n, "mean_generated_tokens": sum(r["generated_tokens"] for r in records) / n if n else 0.0,
               "unfinished": sum(1 for r in records if not r["finished"])}
    if kind == "rationale":
        hits = sum(1 for r in records if r["rationale"])
        # the share of training pairs with a non-empty continuation after y (not the paper's 139/200,
        # which counts rationales in zero-shot replies)
        summary.update(with_rationale=hits, rationale_rate=hits / n if n else 0.0,
                       rationale_rate_means="share of training pairs with a non-empty rationale")
    elif kind == "seqkd":
        summary.update(empty=sum(1 for r in records if not r["seqkd_response"]))
    elif kind == "sdft":
        rejected = sum(1 for r in records if r["sdft_rejected"])
        summary.update(rejected=rejected, rejection_rate=rejected / n if n else 0.0)
    return summary


#: kind -> (prompt builder, post-processor)
SYNTHESIZERS: dict[str, tuple[Callable, Callable]] = {
    "rationale": (rationale_prompts, add_rationales),
    "seqkd": (seqkd_prompts, add_seqkd),
    "sdft": (sdft_prompts, add_sdft),
}


def synthesize(kind: str, generator: Generator, records: list[dict], params: DecodingParams) -> list[dict]:
    """Run one kind of synthesis over records that already carry their instruction."""
    build_prompts, postprocess = SYNTHESIZERS[kind]
    generations = generator.generate(build_prompts(generator.tokenizer, records), params)
    return postprocess(records, generations)


# --- sharded, resumable synthesis ------------------------------------------------------------

#: records per shard: a killed job loses at most one shard's generations
SHARD_SIZE = 256


def shard_key(kind: str, settings: dict, model: str, records: list[dict]) -> str:
    """Everything a shard's output depends on: kind, the step's settings, the model and its inputs."""
    from radis.provenance import config_hash

    return config_hash({"kind": kind, "settings": settings, "model": model, "records": records})


def synthesize_in_shards(kind: str, load_generator: Callable[[], Generator], records: list[dict],
                         params: DecodingParams, shard_dir, key_settings: dict, model: str,
                         shard_size: int = SHARD_SIZE,
                         log: Callable[[str], None] = print, hardware: dict | None = None) -> tuple[list[dict], dict]:
    """:func:`synthesize` over consecutive shards of ``records``, each written atomically to
    ``shard_dir`` as soon as it is done, so that a killed job's rerun generates only the shards it
    had not finished. A shard file is named by its index and :func:`shard_key`, so a changed config,
    model or input never reuses a stale shard; files of other keys are removed. The model is loaded
    only when some shard is left to generate. Returns the records and ``{"shards", "reused", "generated",
    "shard_size", "hardware"}``.

    ``key_settings`` must hold only settings that change the output (radis.config.split_hardware):
    ``hardware`` (a generation batch size, ...) does not key a shard, so lowering it after an
    out-of-memory error keeps every finished shard; it is written beside each shard
    (``{shard}.hardware.json``) and ``"hardware"`` lists which shards were made with which.

    Each shard is generated by its own ``generate`` call (the generator re-seeds per call), so a
    resumed run writes exactly what an uninterrupted one does.
    """
    from pathlib import Path

    from radis.io import InputError, read_json, read_jsonl, write_json, write_jsonl

    if shard_size < 1:
        raise InputError(f"generation.shard_size must be >= 1, got {shard_size}")
    shard_dir = Path(shard_dir)
    shards = [records[i:i + shard_size] for i in range(0, len(records), shard_size)]
    paths = [shard_dir / f"{i:05d}-{shard_key(kind, key_settings, model, shard)}.jsonl"
             for i, shard in enumerate(shards)]
    recorded = [path.with_suffix(".hardware.json") for path in paths]
    if shard_dir.exists():  # shards of another config, and temporary files of a killed write
        for stale in set(shard_dir.iterdir()) - set(paths) - set(recorded):
            stale.unlink()
    shard_dir.mkdir(parents=True, exist_ok=True)
    generator = None
    out: list[dict] = []
    reused = 0
    made_with: list[dict | None] = []  # the hardware settings of each shard (None: not recorded)
    for i, (shard, path, record) in enumerate(zip(shards, paths, recorded)):
        done = read_jsonl(path) if path.exists() else None
        if done is not None and len(done) == len(shard):
            reused += 1
            made_with.append(read_json(record) if record.exists() else None)
            log(f"shard {i + 1}/{len(shards)} ({len(shard)} records): reused {path.name}")
        else:
            if generator is None:
                generator = load_generator()
            done = synthesize(kind, generator, shard, params)
            write_json(record, hardware or {})  # first: a shard file never lacks its record
            write_jsonl(path, done)
            made_with.append(hardware or {})
            log(f"shard {i + 1}/{len(shards)} ({len(shard)} records): generated {path.name}")
        out += done
    runs: list[dict] = []
    for i, settings in enumerate(made_with):
        if runs and runs[-1]["settings"] == settings:
            runs[-1]["shards"].append(i)
        else:
            runs.append({"settings": settings, "shards": [i]})
    stats = {"shards": len(shards), "reused": reused, "generated": len(shards) - reused,
             "shard_size": shard_size, "hardware": runs}
    log(f"shards: {stats['shards']} total, {reused} reused, {stats['generated']} generated")
    return out, stats
