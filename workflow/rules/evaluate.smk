# Translation evaluation (Tables 1-2): greedy translation of WMT22 (one job per model, all
# directions: the model is loaded once), then BLEU/chrF/COMET per cell.
# Generation and scoring are separate jobs: COMET runs in its own environment and a metric change
# never regenerates translations.


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
    params:
        settings=lambda w: as_arg(
            {
                **generation_settings(w.backbone, "translation"),
                "evaluation": config["evaluation"]["translation"],
                **prompt_format_settings(w.backbone),
            }
        ),
        directions=" ".join(DIRECTIONS),
    threads: config["threads"]
    log:
        f"{R}/logs/translate/{{backbone}}/{{method}}.log",
    benchmark:
        f"{R}/benchmarks/translate/{{backbone}}/{{method}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {RADIS} translate --model {input.model} "
        "--directions {params.directions} --data-dir {R}/data/test "
        "--out-dir {R}/eval/{wildcards.backbone}/{wildcards.method}/translation "
        "--settings {params.settings} > {log} 2>&1"


rule score_translation:
    input:
        hyp=f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.hyp.jsonl",
        meta=f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.hyp.meta.json",
    output:
        f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.json",
    params:
        settings=lambda w: as_arg(
            {
                "comet_model": config["evaluation"]["comet_model"],
                "comet_batch_size": config["evaluation"].get("comet_batch_size", 8),
            }
        ),
    log:
        f"{R}/logs/score_translation/{{backbone}}/{{method}}/{{direction}}.log",
    benchmark:
        f"{R}/benchmarks/score_translation/{{backbone}}/{{method}}/{{direction}}.tsv"
    shell:
        "{RADIS} score --hypotheses {input.hyp} --generation-meta {input.meta} "
        "--backbone {wildcards.backbone} --method {wildcards.method} --out {output} "
        "--settings {params.settings} > {log} 2>&1"
