# Data synthesis by the backbone itself (paper §3.2 and Appendix A): RaDis rationales, Seq-KD
# self-translations, SDFT paraphrases. One job per backbone × kind × direction.


rule synthesize:
    input:
        model=f"{R}/backbones/{{backbone}}",
        data=f"{R}/data/train/{{direction}}.jsonl",
    output:
        data=f"{R}/synth/{{backbone}}/{{kind}}/{{direction}}.jsonl",
        meta=f"{R}/synth/{{backbone}}/{{kind}}/{{direction}}.meta.json",
    params:
        settings=lambda w: as_arg(generation_settings(w.backbone, w.kind)),
    threads: config["threads"]
    log:
        f"{R}/logs/synthesize/{{backbone}}/{{kind}}/{{direction}}.log",
    benchmark:
        f"{R}/benchmarks/synthesize/{{backbone}}/{{kind}}/{{direction}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {RADIS} synthesize --kind {wildcards.kind} --model {input.model} "
        "--direction {wildcards.direction} --data {input.data} --out {output.data} --meta {output.meta} "
        "--settings {params.settings} > {log} 2>&1"
