"""The plan as ``radis plan`` prints it: stages, judges, seeds, what is not costed, the assumptions."""

from __future__ import annotations

from radis.plan.estimate import make_plan
from radis.plan.model import ASSUMPTIONS, Plan


def _size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return ""


def render(plan: Plan, gpu_model: str | None = None) -> str:
    cpu = plan.device == "cpu"
    unit = "CPU min (job time)" if cpu else f"GPU-hours ({(gpu_model or 'a100').upper()}, FLOP-based)"
    lines = [f"| stage | jobs | tokens | {unit} | disk |", "|---|---:|---:|---:|---:|"]
    for s in plan.stages.values():
        t = s.seconds(plan.device)
        lines.append(f"| {s.name} | {s.jobs} | {s.tokens:,.0f} | {t / 60:.1f} | {_size(s.disk_bytes)} |" if cpu else
                     f"| {s.name} | {s.jobs} | {s.tokens:,.0f} | {t / 3600:.1f} | {_size(s.disk_bytes)} |")
    total = plan.seconds
    lines.append(f"| total | {sum(s.jobs for s in plan.stages.values())} | "
                 f"{sum(s.tokens for s in plan.stages.values()):,.0f} | "
                 + (f"{total / 60:.1f}" if cpu else f"{total / 3600:.1f}")
                 + f" | {_size(sum(s.disk_bytes for s in plan.stages.values()))} |")
    lines += ["", "| judge | calls | prompt tokens | completion tokens (at most) | cost |", "|---|---:|---:|---:|---:|"]
    usd_total = 0.0
    for name, use in plan.judges.items():
        prices = plan.prices.get(name)
        if prices:
            usd = (use.prompt_tokens * prices[0] + use.completion_tokens * prices[1]) / 1e6
            usd_total += usd
            cost = f"${usd:,.2f}"
        else:
            cost = "served by the run (compute in its stage)" if use.served else "no price in the config"
        lines.append(f"| {name} | {use.calls:,} | {use.prompt_tokens:,.0f} | {use.completion_tokens:,.0f} | {cost} |")
    if usd_total:
        lines.append(f"| total | | | | ${usd_total:,.2f} |")
    if plan.uncosted:
        lines += ["", f"Not costed (their modules declare no plan_items / JUDGE_COST, radis.benchmarks): "
                  f"{', '.join(plan.uncosted)}."]
    if len(plan.seeds) > 1:
        lines += ["", f"Seeds: {len(plan.seeds)} ({', '.join(map(str, plan.seeds))}, experiment.seeds). Every trained "
                  f"model's training set, training, merge, evaluation, judge calls and drift are counted {len(plan.seeds)}"
                  " times; its synthesis too where it samples or its generator is a trained model, otherwise once "
                  "(shared by every seed); the backbones' and prior models' own evaluation once."]
    lines += ["", "Assumptions (estimates, not measurements):", *(f"- {a}" for a in ASSUMPTIONS)]
    return "\n".join(lines)


def print_plan(configfile: list[str]) -> None:
    """``radis plan``: the plan of config/config.yaml with ``configfile`` overlays, as Snakemake merges them."""
    from radis.config import load_config
    from radis.settings import REPO_ROOT

    config = load_config(REPO_ROOT / "config" / "config.yaml", *configfile)
    print(render(make_plan(config), config["compute"].get("gpu_model")))
