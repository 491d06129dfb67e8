# Translation evaluation (Tables 1-2): greedy translation of WMT22 (one job per model, all
# directions: the model is loaded once), then BLEU/chrF/COMET of every direction of that model (COMET is
# loaded once), one result file per cell.
# Generation and scoring are separate jobs: COMET runs in its own environment (envs/comet.yaml)
# and a metric change never regenerates translations. COMET and its encoder's tokenizer are
# downloaded by a local rule (where Snakemake runs, with the network) into the hub cache, at pinned
# or locked commits; the score jobs read them offline (RADIS_COMET: HF_HUB_OFFLINE=1).


localrules:
    download_comet,


rule translate:
    input:
        model=lambda w: model_dir(w.backbone, w.method),
        data=expand(f"{R}/data/test/{{direction}}.jsonl", direction=DIRECTIONS),
    output:
        hyp=expand(
            f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/translation/{{direction}}.hyp.jsonl",
            direction=DIRECTIONS,
        ),
        meta=expand(
            f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/translation/{{direction}}.hyp.meta.json",
            direction=DIRECTIONS,
        ),
    log:
        job_log("translate", "{backbone}/{method}"),
    benchmark:
        job_benchmark("translate", "{backbone}/{method}")
    conda:
        conda_env(GEN_ENV)
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(translate_settings(w)),
        gpu=gpu_count(MODEL_GPUS),
        gpu_model=gpu_type(MODEL_GPUS),
    params:
        settings=lambda w: settings_arg(translate_settings(w)),
        directions=" ".join(DIRECTIONS),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS_GEN} translate --model {input.model} "
        "--directions {params.directions} --data-dir {R}/data/test "
        "--out-dir {R}/eval/{wildcards.backbone}/{wildcards.method}/translation "
        "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"


rule download_comet:
    # the COMET checkpoint (2.3 GB) and its encoder's tokenizer and config, once per run
    output:
        COMET_DOWNLOAD,
    log:
        job_log("download_comet"),
    benchmark:
        job_benchmark("download_comet")
    conda:
        conda_env("comet")
    params:
        settings=lambda w: as_arg(comet_settings()),
    shell:
        "{RADIS_COMET_DOWNLOAD} download-comet --out {output} --settings {params.settings} > {log} 2>&1"


rule score_translation:
    # one job per model: COMET (2.3 GB) is loaded once for every direction; each direction is still
    # its own result file (a table cell), so a cell is still one file target
    input:
        hyp=expand(
            f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/translation/{{direction}}.hyp.jsonl", direction=DIRECTIONS
        ),
        meta=expand(
            f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/translation/{{direction}}.hyp.meta.json", direction=DIRECTIONS
        ),
        comet=lambda w: comet_download(),
    output:
        expand(TRANSLATION_RESULT, direction=DIRECTIONS, allow_missing=True),
    log:
        job_log("score_translation", "{backbone}/{method}"),
    benchmark:
        job_benchmark("score_translation", "{backbone}/{method}")
    conda:
        conda_env("comet")
    params:
        settings=lambda w: as_arg(score_settings()),
    shell:
        "{RADIS_COMET} score --hypotheses {input.hyp} --generation-meta {input.meta} "
        "--backbone {wildcards.backbone} --method {wildcards.method} --out {output} "
        "--settings {params.settings} > {log} 2>&1"
