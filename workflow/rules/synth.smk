# Data synthesis by the backbone itself (paper §3.2 and Appendix A): RaDis rationales, Seq-KD
# self-translations, SDFT paraphrases; and (Table 5) rationales of another model, kind
# `rationale-{method}`, written by that method's rationale_generator. One job per backbone × kind covers every direction: a 7B
# model is loaded once per job, and length-sorted batches mix directions. Outputs stay per direction.


#: GPUs of a synthesis job: those of the model that generates


rule synthesize:
    input:
        model=lambda w: generator_dir(w.backbone, w.kind),
        data=expand(f"{R}/data/train/{{direction}}.jsonl", direction=DIRECTIONS),
    output:
        data=expand(f"{R}/synth/{{{{backbone}}}}/{{{{kind}}}}/{{direction}}.jsonl", direction=DIRECTIONS),
        meta=expand(f"{R}/synth/{{{{backbone}}}}/{{{{kind}}}}/{{direction}}.meta.json", direction=DIRECTIONS),
    log:
        job_log("synthesize", "{backbone}/{kind}"),
    benchmark:
        job_benchmark("synthesize", "{backbone}/{kind}")
    conda:
        conda_env(GEN_ENV)
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(synthesize_settings(w)),
        gpu=gpu_count(SYNTH_GPUS),
        gpu_model=gpu_type(SYNTH_GPUS),
    params:
        settings=lambda w: settings_arg(synthesize_settings(w)),
        type=lambda w: synth_type(w.kind),
        directions=" ".join(DIRECTIONS),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS_GEN} synthesize --kind {params.type} --model {input.model} "
        "--directions {params.directions} --data-dir {R}/data/train "
        "--out-dir {R}/synth/{wildcards.backbone}/{wildcards.kind} "
        "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"
