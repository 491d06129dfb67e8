"""What the SLURM cluster at hand can run, checked before a job is submitted.

Why: SLURM accepts a job that no node of its partition can ever hold and leaves it PENDING
(``PartitionConfig``) while Snakemake waits without a word; the paper profile asks for 80 GB A100
nodes, a group trying the grid on a small cluster first gets exactly that. So the workflow's
``onstart`` (workflow/rules/common.smk) compares every job's request (partition, CPUs, memory,
GPUs and their model, time) with the nodes ``sinfo`` lists and stops with the rule, the request and
the ``--set-resources`` that would fit (:func:`misfits`). It also picks the status command that
sees finished jobs here (:func:`status_settings`: without accounting, ``sacct`` never does), and
``radis slurm-profile`` writes the shipped profile fitted to this cluster (:func:`fitted_profile`).
"""

from __future__ import annotations

import collections
import copy
import math
import re
import subprocess
from dataclasses import dataclass, field

#: what :func:`read_nodes` asks sinfo: partition (default marked *), CPUs, memory (MB), GRES, time limit
SINFO_FORMAT = "%P|%c|%m|%G|%l"
#: the resources :func:`fitted_profile` bounds; the profile's expressions may use ``attempt``
_CAPPED = ("cpus_per_task", "mem_mb", "runtime")


@dataclass(frozen=True)
class NodeKind:
    """One kind of node of a partition (``sinfo -e``: nodes of the same configuration are one line)."""

    partition: str
    cpus: int
    mem_mb: int
    #: GPUs per node by model ("" where the GRES names no type)
    gpus: dict[str, int] = field(default_factory=dict)
    #: the partition's time limit in minutes (None: infinite)
    max_minutes: int | None = None
    #: the cluster's default partition (where a job without ``--partition`` goes)
    default: bool = False

    def gpu_count(self, model: str) -> int:
        return self.gpus.get(model, 0) if model else sum(self.gpus.values())


@dataclass(frozen=True)
class Request:
    """What one job asks SLURM for, as the plugin submits it (``partition`` "" = the default)."""

    rule: str
    wildcards: str
    partition: str
    cpus: int
    mem_mb: int
    gpus: int
    gpu_model: str
    runtime: int

    def describe(self) -> str:
        gpus = f", {self.gpus} GPUs ({self.gpu_model or 'any model'})" if self.gpus else ""
        return f"{self.cpus} CPUs, {self.mem_mb} MB{gpus}, {self.runtime} min"


def request_of(job) -> Request:
    """What a Snakemake job asks SLURM for, read as snakemake-executor-plugin-slurm submits it (CPUs:
    ``cpus_per_task``, else the job's threads)."""
    r = job.resources
    return Request(rule=job.rule.name, wildcards=", ".join(f"{k}={v}" for k, v in job.wildcards.items()),
                   partition=str(r.get("slurm_partition") or ""), cpus=int(r.get("cpus_per_task") or job.threads),
                   mem_mb=int(r.get("mem_mb") or 0), gpus=int(r.get("gpu") or 0),
                   gpu_model=str(r.get("gpu_model") or ""), runtime=int(r.get("runtime") or 0))


def parse_minutes(text: str) -> int | None:
    """A SLURM time (``infinite``, ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in whole minutes."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    days, _, rest = text.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    if days:
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, (minutes, seconds) = 0, parts
    else:
        hours, minutes, seconds = 0, parts[0], 0
    return math.ceil((int(days or 0) * 24 + hours) * 60 + minutes + seconds / 60)


def parse_gres(text: str) -> dict[str, int]:
    """GPUs per model in a node's GRES (``gpu:a100:4(S:0-1)``, ``gpu:2``, ``(null)``)."""
    gpus: dict[str, int] = collections.Counter()
    for model, count in re.findall(r"gpu(?::([^:,()]+))?:(\d+)", text):
        gpus[model or ""] += int(count)
    return dict(gpus)


def parse_sinfo(text: str) -> list[NodeKind]:
    """The node kinds of ``sinfo -h -e -o`` :data:`SINFO_FORMAT`."""
    nodes = []
    for line in text.splitlines():
        if not line.strip():
            continue
        partition, cpus, mem, gres, limit = line.split("|")
        memory = int(re.match(r"\d+", mem).group()) if re.match(r"\d+", mem) else 0
        nodes.append(NodeKind(partition.rstrip("*"), int(cpus.rstrip("+")), memory, parse_gres(gres),
                              parse_minutes(limit), default=partition.endswith("*")))
    return nodes


def read_nodes() -> list[NodeKind]:
    """The node kinds of the cluster this runs on (``sinfo``)."""
    out = subprocess.run(["sinfo", "-h", "-e", "-o", SINFO_FORMAT], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return parse_sinfo(out)


def read_config() -> str:
    """``scontrol show config`` of the cluster this runs on."""
    return subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def status_settings(scontrol_config: str, init_seconds: int) -> dict:
    """The executor settings of snakemake-executor-plugin-slurm that let it see jobs end here.

    The plugin queries with ``sacct`` whenever the binary exists; without accounting
    (``AccountingStorageType=accounting_storage/none``) sacct never sees a job finish and the run
    waits for ever, so ``squeue`` it is. squeue lists a finished job for ``MinJobAge`` seconds only,
    and the plugin goes back to sacct unless its first check comes within a third of that."""
    executor: dict = {}
    accounting = re.search(r"^AccountingStorageType\s*=\s*(\S+)", scontrol_config, re.M)
    if accounting and accounting.group(1) == "accounting_storage/none":
        executor["status_command"] = "squeue"
        age = re.search(r"^MinJobAge\s*=\s*(\d+)", scontrol_config, re.M)
        if age and int(age.group(1)) < 3 * init_seconds:
            executor["init_seconds_before_status_checks"] = max(1, int(age.group(1)) // 4)
    return executor


def _partition_nodes(request: Request, nodes: list[NodeKind]) -> tuple[str, list[NodeKind]]:
    name = request.partition or next((n.partition for n in nodes if n.default), "")
    return name, [n for n in nodes if n.partition == name] if name else nodes


def _holds(node: NodeKind, r: Request) -> bool:
    return (r.cpus <= node.cpus and r.mem_mb <= node.mem_mb and r.gpus <= node.gpu_count(r.gpu_model)
            and (node.max_minutes is None or r.runtime <= node.max_minutes))


def misfit(request: Request, nodes: list[NodeKind]) -> str | None:
    """Why no node of the request's partition can run it, with what to ask instead; None if one can."""
    name, candidates = _partition_nodes(request, nodes)
    where = f"partition {name!r}" + (" (the cluster's default)" if not request.partition else "")
    head = f"rule {request.rule} ({request.wildcards}) asks {where} for {request.describe()}"
    if not candidates:
        known = ", ".join(dict.fromkeys(n.partition for n in nodes))
        return f"{head}: partition {name!r} does not exist (partitions: {known})"
    if any(_holds(n, request) for n in candidates):
        return None
    with_gpus = [n for n in candidates if n.gpu_count(request.gpu_model) >= request.gpus]
    if not with_gpus:
        most = max(n.gpu_count(request.gpu_model) for n in candidates)
        return (f"{head}: no node of {where} has {request.gpus} GPUs ({request.gpu_model or 'any model'}; at most "
                f"{most}); ask for fewer in the config (training.gpus, tensor_parallel_size), or another partition "
                f"(RADIS_SLURM_GPU_PARTITION)")
    node = max(with_gpus, key=lambda n: (n.cpus, n.mem_mb))
    fixes = []
    if request.cpus > node.cpus:
        fixes.append(f"{request.rule}:cpus_per_task={node.cpus}")
    if request.mem_mb > node.mem_mb:
        fixes.append(f"{request.rule}:mem_mb={node.mem_mb}")
    limit = max((n.max_minutes for n in with_gpus if n.max_minutes is not None), default=None)
    if limit is not None and request.runtime > limit and all(n.max_minutes is not None for n in with_gpus):
        fixes.append(f"{request.rule}:runtime={limit}")
    has = f"{node.cpus} CPUs, {node.mem_mb} MB" + (f", {node.gpu_count(request.gpu_model)} GPUs" if request.gpus else "")
    return f"{head}; its largest node has {has}: pass --set-resources {' '.join(fixes)}"


def misfits(requests: list[Request], nodes: list[NodeKind]) -> list[str]:
    """:func:`misfit` of each distinct request (rule and resources), saying how many jobs ask it."""
    groups: dict[tuple, list[Request]] = {}
    for r in requests:
        groups.setdefault((r.rule, r.partition, r.cpus, r.mem_mb, r.gpus, r.gpu_model, r.runtime), []).append(r)
    problems = []
    for same in groups.values():
        problem = misfit(same[0], nodes)
        if problem:
            problems.append(problem + (f" ({len(same)} jobs)" if len(same) > 1 else ""))
    return problems


def fitted_profile(profile: dict, nodes: list[NodeKind], partitions: list[str], max_cpus: int | None = None,
                   max_mem_mb: int | None = None) -> dict:
    """``profile`` (profiles/slurm/config.yaml, parsed) with every job's CPUs, memory and time bounded
    by the largest node of each of ``partitions`` (the smallest of those bounds, as a rule may go to
    either), and by ``max_cpus``/``max_mem_mb`` where given (a few CPUs of a shared cluster), on every
    attempt: a retry's growth stops at what a node has. Threads follow the CPUs."""
    chosen = [n for n in nodes if n.partition in partitions] or nodes
    largest = {p: max((n for n in chosen if n.partition == p), key=lambda n: (n.cpus, n.mem_mb))
               for p in dict.fromkeys(n.partition for n in chosen)}
    cpus = min([n.cpus for n in largest.values()] + ([max_cpus] if max_cpus else []))
    mem = min([n.mem_mb for n in largest.values()] + ([max_mem_mb] if max_mem_mb else []))
    limits = [n.max_minutes for n in chosen if n.max_minutes is not None]
    caps = {"cpus_per_task": cpus, "mem_mb": mem, "runtime": min(limits) if limits else None}
    fitted = copy.deepcopy(profile)
    for resources in [fitted.get("default-resources", {}), *fitted.get("set-resources", {}).values()]:
        for key in _CAPPED:
            if key in resources and caps[key] is not None:
                value = resources[key]
                resources[key] = (min(int(value), caps[key]) if not isinstance(value, str)
                                  else f"min({caps[key]}, {value})")
    fitted["set-threads"] = {rule: min(int(n), cpus) for rule, n in fitted.get("set-threads", {}).items()}
    return fitted


def write_fitted_profile(out: str, profile: str, max_cpus: int | None = None, max_mem_mb: int | None = None) -> None:
    """``radis slurm-profile``: :func:`fitted_profile` of ``profile`` for this cluster's nodes, in the
    partitions that RADIS_SLURM_{GPU,CPU}_PARTITION name (the default partition where unset), as
    ``{out}/config.yaml``; says what it bounded."""
    import os
    from pathlib import Path

    import yaml

    from radis.io import write_text

    nodes = read_nodes()
    default = next((n.partition for n in nodes if n.default), "")
    partitions = [os.environ.get(f"RADIS_SLURM_{kind}_PARTITION") or default for kind in ("GPU", "CPU")]
    shipped = yaml.safe_load(Path(profile).read_text(encoding="utf-8"))
    fitted = fitted_profile(shipped, nodes, partitions, max_cpus=max_cpus, max_mem_mb=max_mem_mb)
    header = (f"# {profile} fitted by `radis slurm-profile` to partitions {', '.join(dict.fromkeys(partitions))}: "
              "every job's CPUs, memory and time within their nodes, on every attempt.\n")
    target = Path(out) / "config.yaml"
    write_text(target, header + yaml.safe_dump(fitted, sort_keys=False))
    print(f"{target}: use it as --profile {out}")
