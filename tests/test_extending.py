"""Extending the study (docs/extending.md): a backbone, a language pair, a method, a benchmark and
a judge, each one config entry and at most one new module, in a temporary copy of the repository.

The copy's DAG (a dry run: no model, no network) must plan each addition's jobs with the settings
the new entries give; the copy's `radis plan` must count the same jobs and cost the new benchmark's
generation and judge calls; `radis cell` must name the new cells' files; the tables must show the
new method and benchmark under their names; and the copy's `radis` must offer the new method's
synthesis kind and the new benchmark's data set and response set. Nothing outside the new modules,
the config overlay and the new pair's and benchmark's data changes.
"""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from test_dag import job_counts

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

METHOD_MODULE = '''
"""Back-paraphrase (an example method): the backbone paraphrases each reference and trains on it."""

from radis.methods import Method, Synthesis, example, generation_fields
from radis.prompts import render_generation_prompt, user


def prompts(tokenizer, records):
    return [render_generation_prompt(tokenizer, [user("Paraphrase: " + r["reference"])]) for r in records]


def postprocess(records, generations):
    return [{**r, "paraphrase": g.text.strip() or r["reference"], **generation_fields(g)}
            for r, g in zip(records, generations, strict=True)]


METHOD = Method("paraphrase", lambda records: [example(r, r["paraphrase"]) for r in records],
                Synthesis("paraphrase", prompts, postprocess), label="Back-paraphrase")
'''

BENCHMARK_MODULE = '''
"""Capitals (an example benchmark): the model names a country's capital; its judge says whether
the answer names the expected city."""

import json
from pathlib import Path

from radis.benchmarks import Benchmark, EvalFile, JudgeCost, PlanItems
from radis.data import subset

FILES = (EvalFile("capitals/questions.jsonl", "https://example.org/capitals/questions.jsonl", "0" * 64),)
BENCHMARKS = (Benchmark("capitals", "Capitals", "accuracy"),)
#: one judge call per answer: a short instruction, the question, the answer; the judge writes yes or no
JUDGE_COST = JudgeCost(template_tokens=30, prompts=1, answers=1, completion_tokens=lambda section: 2)


def load_items(data_dir, limit, seed):
    return subset([json.loads(line) for line in (Path(data_dir) / FILES[0].path).read_text().splitlines()],
                  limit, seed)


def plan_items(data_dir, limit, seed):
    return PlanItems([(i["question"],) for i in load_items(data_dir, limit, seed)])


def generate_responses(generator, data_dir, settings, seed):
    from radis.prompts import render_generation_prompt, user

    items = load_items(data_dir, settings.limit, seed)
    outputs = generator.generate([render_generation_prompt(generator.tokenizer, [user(i["question"])]) for i in items],
                                 settings.decoding)
    return [{**i, "response": g.text} for i, g in zip(items, outputs)]


def judge_responses(benchmark, responses, judging):
    from radis.judges.client import text_of

    answers = judging.client().complete([{"messages": [{"role": "user", "content": (
        f"Does this answer name {r['answer']}? Say yes or no.\\n\\n{r['response']}")}], "max_tokens": 2}
        for r in responses])
    hits = [text_of(a).strip().lower().startswith("yes") for a in answers]
    return {"metrics": {"accuracy": 100.0 * sum(hits) / len(hits)}, "judge": judging.name,
            "details": [{"id": r["id"], "correct": h} for r, h in zip(responses, hits)]}
'''

#: the new pair's data (ALMA's layout in the mirror: train as JSON lines, test as a JSON array) and
#: the new benchmark's questions (the general-ability mirror)
PAIRS = [{"translation": {"is": f"Halló {i}.", "en": f"Hello {i}."}} for i in range(4)]
QUESTIONS = [{"id": str(i), "question": f"What is the capital of country {i}?", "answer": f"City {i}"}
             for i in range(3)]

OVERLAY = {
    # a backbone: one entry under backbones (here a local copy of the embedded model), named in the grid
    "backbones": {"smollm2-copy": {"source": {"kind": "local", "path": "results/backbones/smollm2-135m"}}},
    "experiment": {
        "backbones": ["smollm2-135m", "smollm2-copy"],
        "methods": ["vanilla", "radis", "paraphrase"],
        # a language pair: one entry in experiment.directions (Icelandic is in radis.languages)
        "directions": ["de-en", "en-de", "is-en"],
    },
    # a method: one entry under methods (its module: src/radis/methods/paraphrase.py) and the
    # decoding of the synthesis kind it brings
    "methods": {"paraphrase": {"builder": "paraphrase"}},
    "decoding": {"paraphrase": {"max_new_tokens": 32}},
    "general": {
        # a benchmark: its section (its module: src/radis/evaluate/capitals.py), judged by a new judge
        "benchmarks": ["mtbench", "capitals"],
        "capitals": {"limit": None, "judge": "exact", "decoding": {"max_new_tokens": 16}},
    },
    # a judge: one entry under judges (an OpenAI-compatible endpoint; no key)
    "judges": {"exact": {"model": "string-match", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None}},
}


def copy_repository(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".venv*", "*.egg-info")
    dst.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "src", "config", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dst / name, ignore=ignore)
        else:
            shutil.copy2(source, dst / name)
    return dst


def test_a_backbone_a_pair_a_method_a_benchmark_and_a_judge_are_one_entry_and_one_module_each(tmp_path):
    repo = copy_repository(tmp_path / "repo")
    (repo / "src/radis/methods/paraphrase.py").write_text(textwrap.dedent(METHOD_MODULE))
    (repo / "src/radis/evaluate/capitals.py").write_text(textwrap.dedent(BENCHMARK_MODULE))
    demo = repo / "workflow/resources/demo"  # the mirror of both data sections
    (demo / "human_written_data/isen").mkdir()
    (demo / "human_written_data/isen/train.is-en.json").write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    (demo / "human_written_data/isen/test.is-en.json").write_text(json.dumps(PAIRS))
    (demo / "capitals").mkdir()
    (demo / "capitals/questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    overlay = tmp_path / "extend.yaml"
    overlay.write_text(yaml.safe_dump(OVERLAY))

    run = subprocess.run([str(SNAKEMAKE), "all", "-n", "-p", "--snakefile", str(repo / "Snakefile"), "--directory",
                          str(tmp_path / "run"), "--cores", "1", "--configfile", str(overlay)],
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    jobs = job_counts(out)
    assert jobs["materialise_backbone"] == 3  # the new backbone beside the embedded one and the prior stand-in
    assert "output: results/backbones/smollm2-copy" in out
    assert jobs["fetch_capitals"] == 1  # the new benchmark's data set
    for backbone in ("smollm2-135m", "smollm2-copy"):  # the new method is synthesized for and trained per backbone
        assert f"--kind paraphrase --model results/backbones/{backbone} " in out
        assert f"output: results/models/{backbone}/paraphrase/merged" in out
    assert "results/synth/smollm2-copy/paraphrase/is-en.jsonl" in out  # the new pair, synthesized for
    assert "results/eval/smollm2-copy/paraphrase/translation/is-en.json" in out  # and scored
    assert "results/eval/smollm2-copy/paraphrase/capitals.json" in out
    judged = [line for line in out.splitlines() if " judge --eval-dir " in line]
    assert judged and all('"judge_name": "exact"' in line and '"responses": "capitals"' in line for line in judged)
    assert all('"judge_name": "local"' in line for line in judged)  # MT-Bench keeps its judge

    env = {"PYTHONPATH": str(repo / "src"), "PATH": "/usr/bin:/bin"}

    # the plan: the DAG's jobs, and the new benchmark's answers and judge calls costed
    plan = subprocess.run([sys.executable, "-c", PLAN_SCRIPT, str(overlay)], capture_output=True, text=True, env=env,
                          cwd=repo, timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = json.loads(plan.stdout)
    dag = {("fetch_general_data" if rule.startswith("fetch_") else rule): 0 for rule in jobs}
    for rule, n in jobs.items():
        dag["fetch_general_data" if rule.startswith("fetch_") else rule] += n
    dag.pop("total", None)
    assert planned["jobs"] == dag
    answered = planned["jobs"]["generate_general"]  # every model of the grid answers Capitals
    assert planned["judges"]["exact"] == len(QUESTIONS) * answered
    assert planned["uncosted"] == []

    radis = [sys.executable, "-m", "radis"]
    for args, wanted in ((["synthesize", "--help"], "paraphrase"), (["fetch-general", "--help"], "capitals"),
                         (["generate-general", "--help"], "capitals")):
        help_ = subprocess.run(radis + args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert help_.returncode == 0 and wanted in help_.stdout, help_.stdout + help_.stderr
    table = subprocess.run(
        [sys.executable, "-c", "from radis.tables import general_table, render_markdown; print(render_markdown("
         "general_table([{'backbone': 'b', 'method': 'base', 'benchmark': 'capitals', 'metrics': {'accuracy': 62.5}}], "
         "['b'], ['base'], ['capitals'])))"], capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0, table.stderr
    assert "| Models | Capitals | RP[%] |" in table.stdout and "| 62.50 |" in table.stdout, table.stdout
    rows = subprocess.run(
        [sys.executable, "-c", "from radis.tables import method_name; print(method_name('paraphrase'))"],
        capture_output=True, text=True, env=env, timeout=120)
    assert rows.stdout.strip() == "w/ Back-paraphrase", rows.stderr  # the new method's row, under its label

    # the cells: the new benchmark's and the new pair's result files, and Table 3's RP over the run's benchmarks
    def cell(*args):
        run = subprocess.run(radis + ["cell", *args, "--configfile", str(overlay)], capture_output=True, text=True,
                             env=env, cwd=repo, timeout=120)
        return run.returncode, run.stdout + run.stderr

    code, out = cell("3", "smollm2-copy", "paraphrase", "Capitals")
    assert code == 0 and "results/eval/smollm2-copy/paraphrase/capitals.json" in out, out
    code, out = cell("2", "smollm2-copy", "paraphrase", "Icelandic")
    assert code == 0 and "results/eval/smollm2-copy/paraphrase/translation/is-en.json" in out, out
    code, out = cell("3", "smollm2-copy", "paraphrase", "RP")
    assert code == 0 and "results/eval/smollm2-copy/base/capitals.json" in out and "alpacaeval" not in out, out
    code, out = cell("3", "smollm2-copy", "sdft", "Capitals")  # not in this run's grid
    assert code != 0 and "sdft" in out and "paraphrase" in out, out


#: the copy's plan as JSON: jobs per rule, judge calls per judge, and the judged benchmarks it could not cost
PLAN_SCRIPT = """
import json, sys
from radis.config import load_config
from radis.plan import make_plan
plan = make_plan(load_config("config/config.yaml", sys.argv[1]))
print(json.dumps({"jobs": plan.job_counts(), "judges": {n: u.calls for n, u in plan.judges.items()},
                  "uncosted": plan.uncosted}))
"""
