# RaDis (Rationale Distillation) as a Snakemake DAG. Thin on purpose: the logic lives in src/radis
# behind the `radis` command; workflow/rules/ has one file per stage. See README.md.
import os

from snakemake.utils import min_version

min_version("9.0")


# Resolved against the repository so that `--directory elsewhere` (tests, scratch runs) works too.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/steps.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/backbone.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/general.smk"
include: "workflow/rules/drift.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


# After every rule is defined: the SLURM partition of each job follows its GPU request.
route_to_partitions(workflow.rules)
