# General ability (paper §4.1, Table 3): MT-Bench, AlpacaEval 1 and 2, AdvBench, GSM8K, for the
# backbone (`base`) and every trained method. Per model, one job generates every response set (the
# model is loaded once) and one job judges them (a served judge model is started once). Judging
# needs no model of ours (an API, or a judge the job serves itself) and its calls are cached under
# results/judge-cache, so a rerun or a resumed run repeats no paid call; each benchmark is still
# its own file, the Table 3 cell.


# One download rule per data set (rules defined in a loop, since outputs differ per set).
for _dataset in datasets():

    rule:
        name:
            f"fetch_{_dataset}"
        output:
            general_files(_dataset),
        log:
            job_log("fetch_general_data", _dataset),
        benchmark:
            job_benchmark("fetch_general_data", _dataset)
        localrule: True
        conda:
            conda_env("main")
        params:
            settings=as_arg(general_data_settings()),
            dataset=_dataset,
        shell:
            "{RADIS} fetch-general --dataset {params.dataset} --out-dir {R}/data/general "
            "--settings {params.settings} > {log} 2>&1"


if JUDGED:

    rule generate_general:
        input:
            model=lambda w: model_dir(w.backbone, w.method),
            data=[f for r in RESPONSE_SETS for f in general_files(r)],
        output:
            expand(f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/{{responses}}.responses.jsonl", responses=RESPONSE_SETS),
        log:
            job_log("generate_general", "{backbone}/{method}"),
        benchmark:
            job_benchmark("generate_general", "{backbone}/{method}")
        conda:
            conda_env(GEN_ENV)
        threads: config["threads"]
        resources:
            hardware=lambda w: hardware_arg(generate_general_settings(w)),
            gpu=gpu_count(MODEL_GPUS),
            gpu_model=gpu_type(MODEL_GPUS),
        params:
            settings=lambda w: settings_arg(generate_general_settings(w)),
            benchmarks=" ".join(RESPONSE_SETS),
        shell:
            "OMP_NUM_THREADS={threads} {RADIS_GEN} generate-general --benchmarks {params.benchmarks} "
            "--model {input.model} --data-dir {R}/data/general --out-dir {R}/eval/{wildcards.backbone}/{wildcards.method} "
            "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"

    rule judge_general:
        input:
            responses=expand(
                f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/{{responses}}.responses.jsonl", responses=RESPONSE_SETS
            ),
            data=[f for b in JUDGED for f in general_files(benchmark_of(b).section)],
            judge_models=[f"{R}/backbones/{j}" for j in served_judges()],
        output:
            expand(GENERAL_RESULT, benchmark=JUDGED, allow_missing=True),
        log:
            job_log("judge_general", "{backbone}/{method}"),
        benchmark:
            job_benchmark("judge_general", "{backbone}/{method}")
        conda:
            conda_env(JUDGE_ENV)
        threads: config["threads"]
        resources:
            hardware=lambda w: hardware_arg(judge_settings()),
            gpu=gpu_count(JUDGE_GPUS),
            gpu_model=gpu_type(JUDGE_GPUS),
        params:
            settings=lambda w: settings_arg(judge_settings()),
            judge_models=" ".join(f"{j}={R}/backbones/{j}" for j in served_judges()),
        shell:
            "OMP_NUM_THREADS={threads} {RADIS_JUDGE} judge --eval-dir {R}/eval/{wildcards.backbone}/{wildcards.method} "
            "--data-dir {R}/data/general --judge-model {params.judge_models} --cache-dir {R}/judge-cache "
            "--backbone {wildcards.backbone} --method {wildcards.method} "
            "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"


rule gsm8k:
    input:
        model=lambda w: model_dir(w.backbone, w.method),
        data=general_files("gsm8k"),
    output:
        result=expand(GENERAL_RESULT, benchmark="gsm8k", allow_missing=True)[0],
        samples=f"{R}/eval/{{backbone}}/{{method}}/gsm8k.samples.jsonl",
    log:
        job_log("gsm8k", "{backbone}/{method}"),
    benchmark:
        job_benchmark("gsm8k", "{backbone}/{method}")
    conda:
        conda_env(GEN_ENV)
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(gsm8k_settings(w)),
        gpu=gpu_count(MODEL_GPUS),
        gpu_model=gpu_type(MODEL_GPUS),
    params:
        settings=lambda w: settings_arg(gsm8k_settings(w)),
        work=f"{R}/eval/{{backbone}}/{{method}}/gsm8k.work",
    shell:
        "OMP_NUM_THREADS={threads} {RADIS_GEN} gsm8k --model {input.model} --data-dir {R}/data/general "
        "--backbone {wildcards.backbone} --method {wildcards.method} --out {output.result} "
        "--samples {output.samples} --work-dir {params.work} --settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"
