# Translation evaluation (Tables 1-2): greedy translation of WMT22, then BLEU/chrF/COMET per cell.
# Generation and scoring are separate jobs: COMET runs in its own environment and a metric change
# never regenerates translations.


rule translate:
    input:
        model=lambda w: model_dir(w.backbone, w.method),
        data=f"{R}/data/test/{{direction}}.jsonl",
    output:
        hyp=f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.hyp.jsonl",
        meta=f"{R}/eval/{{backbone}}/{{method}}/translation/{{direction}}.hyp.meta.json",
    params:
        settings=lambda w: as_arg(
            {
                **generation_settings(w.backbone, "translation"),
                "evaluation": config["evaluation"]["translation"],
            }
        ),
    threads: config["threads"]
    log:
        f"{R}/logs/translate/{{backbone}}/{{method}}/{{direction}}.log",
    benchmark:
        f"{R}/benchmarks/translate/{{backbone}}/{{method}}/{{direction}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {RADIS} translate --model {input.model} --data {input.data} "
        "--out {output.hyp} --meta {output.meta} --settings {params.settings} > {log} 2>&1"


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
