# Training-set building, fine-tuning (LoRA or full) and merging, per backbone × method × seed: the
# `method` wildcard is a variant (radis.seeds: `radis@7`; the first seed's is plain `radis`), its
# settings are the method's and its seed the chain's.


rule build_trainset:
    input:
        unpack(trainset_inputs),
    output:
        f"{R}/trainsets/{{backbone}}/{{method}}.jsonl",
    log:
        job_log("build_trainset", "{backbone}/{method}"),
    benchmark:
        job_benchmark("build_trainset", "{backbone}/{method}")
    conda:
        conda_env("main")
    params:
        settings=lambda w: as_arg(trainset_settings(w)),
        synth_dir=synth_dir_arg,
    shell:
        "{RADIS} build-trainset --data {input.data} {params.synth_dir} --out {output} "
        "--settings {params.settings} > {log} 2>&1"


rule train:
    input:
        backbone=f"{R}/backbones/{{backbone}}",
        trainset=f"{R}/trainsets/{{backbone}}/{{method}}.jsonl",
    output:
        directory(f"{R}/models/{{backbone}}/{{method}}/adapter"),
    log:
        job_log("train", "{backbone}/{method}"),
    benchmark:
        job_benchmark("train", "{backbone}/{method}")
    conda:
        conda_env("main")
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(train_settings(w)),
        # training.gpus (paper: 4 A100s); radis.launch starts one process per GPU the job received
        gpu=gpu_count(TRAIN_GPUS),
        gpu_model=gpu_type(TRAIN_GPUS),
    params:
        # Checkpoints live outside the declared output so that a failed or killed job keeps them
        # and the rerun resumes (Snakemake deletes the outputs of failed jobs).
        checkpoints=f"{R}/models/{{backbone}}/{{method}}/checkpoints",
        # the training curves (training.report_to, e.g. TensorBoard), beside the checkpoints
        runs=f"{R}/models/{{backbone}}/{{method}}/runs",
        settings=lambda w: settings_arg(train_settings(w)),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS_LAUNCH} --gpus {resources.gpu} -- train --backbone {input.backbone} "
        "--trainset {input.trainset} --out {output} --checkpoints {params.checkpoints} --runs-dir {params.runs} "
        "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"


rule merge:
    input:
        backbone=f"{R}/backbones/{{backbone}}",
        adapter=f"{R}/models/{{backbone}}/{{method}}/adapter",
    output:
        directory(f"{R}/models/{{backbone}}/{{method}}/merged"),
    log:
        job_log("merge", "{backbone}/{method}"),
    benchmark:
        job_benchmark("merge", "{backbone}/{method}")
    conda:
        conda_env("main")
    threads: config["threads"]
    params:
        settings=lambda w: as_arg(merge_settings(w)),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS} merge --backbone {input.backbone} --adapter {input.adapter} "
        "--out {output} --settings {params.settings} > {log} 2>&1"
