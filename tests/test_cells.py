"""`radis cell`: every table cell names the file the DAG writes for it."""

import subprocess
import sys
from pathlib import Path

import pytest

from radis.cells import cell_targets, snakemake_command
from radis.grid import Grid
from radis.config import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Every output the paper grid's dry run plans."""
    cmd = [str(Path(sys.executable).with_name("snakemake")), "all", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path_factory.mktemp("dag")), "-n", "--cores", "1",
           "--configfile", str(REPO / "config/paper.yaml")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout + out.stderr


def test_every_table1_cell_is_a_distinct_planned_file(paper, planned):
    languages = ["Czech", "German", "Russian", "Chinese"]
    files = []
    for backbone in paper["experiment"]["backbones"]:
        for method in ["base", *paper["experiment"]["methods"]]:
            for language in languages:
                (target,) = cell_targets(1, backbone, method, language, Grid(paper))
                assert target in planned, target
                files.append(target)
    assert len(files) == len(set(files)) == 2 * 5 * 4
    # the prior MT models' rows: backbone = the model, method = base; only the cells the paper shows
    for prior in paper["experiment"]["prior_models"]:
        shown = paper["backbones"][prior].get("directions", paper["experiment"]["directions"])
        for language, code in zip(languages, ["cs", "de", "ru", "zh"]):
            if f"en-{code}" in shown:
                (target,) = cell_targets(1, prior, "base", language, Grid(paper))
                assert target in planned, target
                files.append(target)
    assert len(files) == len(set(files)) == 2 * 5 * 4 + 2 + 4 * 3  # ParroT: German and Chinese only
    # Table 4: one file per backbone holds every category's occurrence
    for backbone in paper["experiment"]["backbones"]:
        (target,) = cell_targets(4, backbone, "radis", "Grammar", Grid(paper))
        assert target in planned, target


def test_every_drift_cell_is_a_planned_file(paper, planned):
    for backbone in paper["experiment"]["backbones"]:
        for method in paper["experiment"]["methods"]:
            (target,) = cell_targets(3, backbone, method, "Drift KL", Grid(paper))
            assert target in planned, target


def test_cells_of_other_tables(paper):
    grid = Grid(paper)
    assert cell_targets(2, "b", "radis", "zh", grid) == ["results/eval/b/radis/translation/zh-en.json"]
    assert len(cell_targets(1, "b", "radis", "Avg.", grid)) == 4
    assert cell_targets(3, "b", "sdft", "AlpacaEval 2.0", grid) == ["results/eval/b/sdft/alpacaeval2.json"]
    assert len(cell_targets(3, "b", "radis", "RP[%]", grid)) == 10  # method and backbone, 5 benchmarks
    assert len(cell_targets(5, "b", "radis", "X→EN", grid)) == 4
    assert cell_targets(3, "b", "radis", "Drift KL", grid) == ["results/eval/b/radis/drift.json"]
    assert cell_targets(5, "b", "radis-x", "drift ΔNLL", grid) == ["results/eval/b/radis-x/drift.json"]
    with pytest.raises(ValueError, match="reference of the drift columns"):
        cell_targets(3, "b", "base", "Drift KL", grid)
    with pytest.raises(ValueError, match="unknown language"):
        cell_targets(1, "b", "radis", "Klingon", grid)
    assert cell_targets(4, "b", "radis", "Word/phrase translation", grid) == [
        "results/analysis/b/rationale_categories.json"]
    with pytest.raises(ValueError, match="unknown Table 4 category 'Poetry'"):
        cell_targets(4, "b", "radis", "Poetry", grid)
    with pytest.raises(ValueError, match="give method 'radis'"):
        cell_targets(4, "b", "vanilla", "Grammar", grid)
    with pytest.raises(ValueError, match="not in experiment.directions"):
        cell_targets(1, "b", "radis", "Icelandic", grid)


def test_a_cell_outside_the_runs_grid_is_refused_naming_what_it_has(tmp_path):
    """`radis cell` reads the run's grid (radis.grid): a method the backbone is not trained with, a
    backbone not in the run, or a benchmark not in general.benchmarks is one line naming the run's."""
    overlay = tmp_path / "small.yaml"
    overlay.write_text("experiment: {methods: [vanilla, radis]}\ngeneral: {benchmarks: [mtbench, advbench]}\n")

    def cell(*args):
        return subprocess.run([sys.executable, "-m", "radis", "cell", *args, "--configfile", str(overlay)],
                              capture_output=True, text=True, cwd=REPO)

    out = cell("1", "smollm2-135m", "sdft", "Czech")
    assert out.returncode == 2 and "smollm2-135m has no model 'sdft' in this run" in out.stderr, out.stderr
    assert "radis" in out.stderr and "vanilla" in out.stderr and "Traceback" not in out.stderr
    out = cell("1", "mistral-7b-instruct-v0.2", "radis", "Czech")
    assert out.returncode == 2 and "backbone 'mistral-7b-instruct-v0.2' is not in this run" in out.stderr
    out = cell("3", "smollm2-135m", "radis", "AlpacaEval 2.0")
    assert out.returncode == 2 and "general.benchmarks: MT-Bench, AdvBench" in out.stderr, out.stderr
    out = cell("3", "smollm2-135m", "radis", "RP")  # RP over the run's benchmarks, of the model and its backbone
    assert out.returncode == 0 and sorted(out.stdout.splitlines()[1:5]) == sorted(
        f"results/eval/smollm2-135m/{m}/{b}.json" for m in ("base", "radis") for b in ("mtbench", "advbench"))


def test_command_rebuilds_only_the_cell():
    cmd = snakemake_command(["results/x.json"], configfiles=["config/paper.yaml"], force=True)
    assert cmd == ["snakemake", "--profile", "profiles/local", "results/x.json", "--configfile", "config/paper.yaml",
                   "--forcerun", "results/x.json"]


def test_cli_prints_target_and_command():
    out = subprocess.run([sys.executable, "-m", "radis", "cell", "1", "mistral-7b-instruct-v0.2", "radis", "Czech",
                          "--configfile", "config/paper.yaml"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "results/eval/mistral-7b-instruct-v0.2/radis/translation/en-cs.json" in out.stdout
    assert "snakemake --profile profiles/local" in out.stdout


def test_a_cell_of_each_seeds_chain_is_a_planned_file(tmp_path):
    """With experiment.seeds [42, 7] the DAG plans a chain per seed; `radis cell --seed` names each
    one's file (the first seed's under the plain method name), and a seed outside the list is refused."""
    overlay = tmp_path / "seeds.yaml"
    overlay.write_text("experiment: {seeds: [42, 7]}\n")
    cmd = [str(Path(sys.executable).with_name("snakemake")), "all", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(tmp_path), "-n", "--cores", "1", "--configfile", str(overlay)]
    planned = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stderr[-2000:]
    for seed, expected in ((42, "results/eval/smollm2-135m/radis/translation/en-cs.json"),
                           (7, "results/eval/smollm2-135m/radis@7/translation/en-cs.json")):
        out = subprocess.run([sys.executable, "-m", "radis", "cell", "1", "smollm2-135m", "radis", "Czech",
                              "--configfile", str(overlay), "--seed", str(seed)], capture_output=True, text=True,
                             cwd=REPO)
        assert out.returncode == 0, out.stderr
        assert expected in out.stdout.splitlines() and expected in planned.stdout + planned.stderr
    out = subprocess.run([sys.executable, "-m", "radis", "cell", "1", "smollm2-135m", "radis", "Czech",
                          "--configfile", str(overlay), "--seed", "3"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode != 0 and "seed 3 is not in experiment.seeds (42, 7)" in out.stderr
    # without --seed: the cell is the mean of both seeds, so both files and one command for them
    out = subprocess.run([sys.executable, "-m", "radis", "cell", "1", "smollm2-135m", "radis", "Czech",
                          "--configfile", str(overlay)], capture_output=True, text=True, cwd=REPO)
    lines = out.stdout.splitlines()
    assert lines[0].endswith("(the mean of seeds 42, 7)") and lines[1:3] == [
        "results/eval/smollm2-135m/radis/translation/en-cs.json", "results/eval/smollm2-135m/radis@7/translation/en-cs.json"]
    assert lines[3].count("translation/en-cs.json") == 2
