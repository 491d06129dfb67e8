"""Training-set builders: what each method (paper §4.2, Appendix A) fine-tunes on.

All take the prepared training records (with their drawn instruction) joined with the
synthesized fields, and return chat examples ``{"id", "messages": [user, assistant]}``:

* ``vanilla``: (instruction(x), y)
* ``radis``:   (instruction(x), ŷ = y + r), the self-generated rationale appended (Eq. 2)
* ``seqkd``:   (instruction(x), y) and (instruction(x), y'), the model's own translation (Eq. 5)
* ``sdft``:    (instruction(x), ỹ), the model's paraphrase of y through SDFT's template
"""

from __future__ import annotations

from radis.prompts import assistant, user

#: builder -> the synthesis kind it needs (None: trains on the references alone)
SYNTH_KIND: dict[str, str | None] = {"vanilla": None, "radis": "rationale", "seqkd": "seqkd", "sdft": "sdft"}


def _example(record: dict, response: str, suffix: str = "") -> dict:
    return {"id": record["id"] + suffix, "messages": [user(record["instruction"]), assistant(response)]}


def vanilla(records: list[dict]) -> list[dict]:
    return [_example(r, r["reference"]) for r in records]


def radis(records: list[dict]) -> list[dict]:
    return [_example(r, r["enriched_response"]) for r in records]


def seqkd(records: list[dict]) -> list[dict]:
    """Both targets; an empty self-translation adds nothing (there is nothing to distil)."""
    examples = []
    for r in records:
        examples.append(_example(r, r["reference"]))
        if r["seqkd_response"]:
            examples.append(_example(r, r["seqkd_response"], "/seqkd"))
    return examples


def sdft(records: list[dict]) -> list[dict]:
    return [_example(r, r["sdft_response"]) for r in records]


BUILDERS = {"vanilla": vanilla, "radis": radis, "seqkd": seqkd, "sdft": sdft}


def build_trainset(builder: str, records: list[dict]) -> list[dict]:
    try:
        build = BUILDERS[builder]
    except KeyError:
        raise ValueError(f"unknown training-set builder {builder!r} (known: {', '.join(BUILDERS)})") from None
    return build(records)
