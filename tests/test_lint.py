"""Snakemake's linter and snakefmt on the workflow: rule files hold rules, workflow/rules/common.smk and
steps.smk hold the functions, and no path is glued with '+'.

One lint is left on purpose: "Shell command directly uses variable ... from outside of the rule"
(the `radis` command, `R`). Passing them through `params` would change every rule's shell text,
and Snakemake's `code` rerun trigger (profiles/*: rerun-triggers) would then rerun every job of
every finished run, a paper run's hundreds of GPU-hours included. The test fails on any other lint."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ACCEPTED = re.compile(r"Shell command directly uses variable \w+ from outside of the rule")


def test_the_linter_finds_nothing_but_the_accepted_shell_variables(tmp_path):
    run = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "--lint", "--snakefile",
                          str(REPO / "Snakefile"), "--directory", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    findings = re.findall(r"^    \* (.+?):?$", run.stdout + run.stderr, re.M)
    assert findings, run.stderr[-2000:]  # the accepted lint is there: the linter ran
    assert [f for f in findings if not ACCEPTED.fullmatch(f)] == []


def test_the_rule_files_are_in_snakefmt_format():
    """`snakefmt Snakefile workflow/rules` (pyproject.toml: [tool.snakefmt]) leaves them as they are.
    Its reordering of a rule's directives changes neither its shell text nor its params: nothing reruns."""
    run = subprocess.run([str(Path(sys.executable).with_name("snakefmt")), "--check", "Snakefile", "workflow/rules"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
