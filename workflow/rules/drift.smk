# Drift from backbone (not in the paper; radis.evaluate.drift): per trained model, the mean per-token
# KL(backbone ‖ trained) and the NLL change along the backbone's own greedy answers to the
# general-ability prompts (MT-Bench first turns, AlpacaEval instructions, AdvBench behaviours; the
# subsets general.* configures). No judge; one forward pass per answer per model. A column group of
# Tables 3 and 5.


if DRIFT["enabled"] and not drift_reuses_responses():

    rule drift_answers:
        input:
            model=f"{R}/backbones/{{backbone}}",
            data=[f for s in DRIFT_SETS for f in general_files(s)],
        output:
            expand(f"{R}/eval/{{{{backbone}}}}/base/drift-answers/{{responses}}.responses.jsonl", responses=DRIFT_SETS),
        log:
            job_log("drift_answers", "{backbone}"),
        benchmark:
            job_benchmark("drift_answers", "{backbone}")
        conda:
            conda_env(GEN_ENV)
        threads: config["threads"]
        resources:
            hardware=lambda w: hardware_arg(drift_answers_settings(w)),
            gpu=gpu_count(MODEL_GPUS),
            gpu_model=gpu_type(MODEL_GPUS),
        params:
            settings=lambda w: settings_arg(drift_answers_settings(w)),
            sets=" ".join(DRIFT_SETS),
        shell:
            "OMP_NUM_THREADS={threads} {RADIS_GEN} generate-general --benchmarks {params.sets} "
            "--model {input.model} --data-dir {R}/data/general --out-dir {R}/eval/{wildcards.backbone}/base/drift-answers "
            "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"


rule drift:
    input:
        backbone=f"{R}/backbones/{{backbone}}",
        model=model_dir("{backbone}", "{method}"),
        answers=lambda w: [f"{drift_answers_dir(w.backbone)}/{s}.responses.jsonl" for s in DRIFT_SETS],
    output:
        DRIFT_RESULT,
    log:
        job_log("drift", "{backbone}/{method}"),
    benchmark:
        job_benchmark("drift", "{backbone}/{method}")
    conda:
        conda_env("main")
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(drift_settings(w)),
        gpu=gpu_count(lambda w: 1),
        gpu_model=gpu_type(lambda w: 1),
    params:
        settings=lambda w: settings_arg(drift_settings(w)),
        answers_dir=lambda w: drift_answers_dir(w.backbone),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS} drift --backbone-model {input.backbone} --model {input.model} "
        "--answers-dir {params.answers_dir} --backbone {wildcards.backbone} --method {wildcards.method} "
        "--out {output} --settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"


rule drift_figure:
    input:
        translation=translation_cells(prior=False),
        drift=drift_cells(METHODS + EXTERNAL),
    output:
        png=report(f"{R}/figures/drift.png", caption="../report/drift_figure.rst", category="Figures"),
        points=f"{R}/figures/drift.json",
    log:
        job_log("drift_figure"),
    benchmark:
        job_benchmark("drift_figure")
    localrule: True
    conda:
        conda_env("main")
    params:
        settings=as_arg(drift_figure_settings()),
    shell:
        "{RADIS} drift-figure --translation {input.translation} --drift {input.drift} --out {output.png} "
        "--points {output.points} --settings {params.settings} > {log} 2>&1"
