# General ability (paper §4.1, Table 3): MT-Bench, AlpacaEval 1 and 2, AdvBench, GSM8K, for the
# backbone (`base`) and every trained method. Per model, one job generates every response set (the
# model is loaded once) and one job judges them (a served judge model is started once). Judging
# needs no model of ours (an API, or a judge the job serves itself) and its calls are cached under
# results/judge-cache, so a rerun or a resumed run repeats no paid call; each benchmark is still
# its own file, the Table 3 cell.

GENERAL = config["general"]
#: the judged benchmarks and the response sets they judge (AlpacaEval 1 and 2 share one): radis.benchmarks
JUDGED = [b for b in GENERAL["benchmarks"] if benchmark_of(b).judged]
RESPONSE_SETS = response_sets(GENERAL["benchmarks"])


def general_files(dataset):
    return [f"{R}/data/general/{f.path}" for f in datasets()[dataset]]


def general_data_settings():
    data = GENERAL["data"]
    mirror = Path(data.get("mirror", "."))
    return {"source": data["source"], "mirror": str(mirror if mirror.is_absolute() else REPO / mirror)}


def judge_entry(b):
    name = GENERAL[benchmark_of(b).section]["judge"]
    return name, config["judges"].get(name)


def served_judges():
    """Backbones that the judging jobs serve themselves (local judge models)."""
    return sorted({j["serve"] for b in JUDGED if (j := judge_entry(b)[1]) and "serve" in j})


def served_judge_specs():
    return [j for b in JUDGED if (j := judge_entry(b)[1]) and "serve" in j]


#: judging runs where its served judges run: `vllm serve` (judges.<name>.server: vllm) needs vLLM's
#: environment (which also has the judge client and alpaca_eval), the builtin server main
JUDGE_ENV = served_judge_env(served_judge_specs())
RADIS_JUDGE = radis_command(JUDGE_ENV)
#: GPUs of a judging job: the largest tensor-parallel size of the judges it serves; none for APIs
JUDGE_GPUS = lambda w: max([j.get("tensor_parallel_size", 1) for j in served_judge_specs()], default=0)


def judge_settings():
    return {
        **device_settings(),
        "judged": {
            b: {
                "judge_name": judge_entry(b)[0],
                "judge": judge_entry(b)[1],
                "section": {k: v for k, v in GENERAL[benchmark_of(b).section].items() if k not in ("decoding", "limit")},
                "responses": benchmark_of(b).section,
            }
            for b in JUDGED
        },
    }


def general_cells(methods=None, prior=True):
    return model_cells(
        GENERAL_RESULT,
        METHODS + EXTERNAL if methods is None else methods,
        prior=prior,
        benchmark=GENERAL["benchmarks"],
    )


# One download rule per data set (rules defined in a loop, since outputs differ per set).
for _dataset in datasets():

    rule:
        name:
            f"fetch_{_dataset}"
        output:
            general_files(_dataset),
        params:
            settings=as_arg(general_data_settings()),
            dataset=_dataset,
        localrule: True
        conda:
            conda_env("main")
        log:
            f"{R}/logs/fetch_general_data/{_dataset}.log",
        benchmark:
            f"{R}/benchmarks/fetch_general_data/{_dataset}.tsv"
        shell:
            "{RADIS} fetch-general --dataset {params.dataset} --out-dir {R}/data/general "
            "--settings {params.settings} > {log} 2>&1"


if JUDGED:

    def generate_general_settings(w):
        return {
            **device_settings(w.backbone),
            "seed": config["seed"],
            "generation": config["generation"],
            "benchmarks": {r: {"decoding": GENERAL[r]["decoding"], "limit": GENERAL[r].get("limit"),
                               "temperatures": GENERAL[r].get("temperatures")}
                           for r in RESPONSE_SETS},
            "trust_remote_code": trust_remote_code(backbone_entry(w.backbone)),
        }


    rule generate_general:
        input:
            model=lambda w: model_dir(w.backbone, w.method),
            data=[f for r in RESPONSE_SETS for f in general_files(r)],
        output:
            expand(f"{R}/eval/{{{{backbone}}}}/{{{{method}}}}/{{responses}}.responses.jsonl", responses=RESPONSE_SETS),
        params:
            settings=lambda w: settings_arg(generate_general_settings(w)),
            benchmarks=" ".join(RESPONSE_SETS),
        threads: config["threads"]
        resources:
            hardware=lambda w: hardware_arg(generate_general_settings(w)),
            gpu=gpu_count(MODEL_GPUS),
            gpu_model=gpu_type(MODEL_GPUS),
        conda:
            conda_env(GEN_ENV)
        log:
            f"{R}/logs/generate_general/{{backbone}}/{{method}}.log",
        benchmark:
            f"{R}/benchmarks/generate_general/{{backbone}}/{{method}}.tsv"
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
        params:
            settings=lambda w: settings_arg(judge_settings()),
            judge_models=" ".join(f"{j}={R}/backbones/{j}" for j in served_judges()),
        threads: config["threads"]
        resources:
            hardware=lambda w: hardware_arg(judge_settings()),
            gpu=gpu_count(JUDGE_GPUS),
            gpu_model=gpu_type(JUDGE_GPUS),
        conda:
            conda_env(JUDGE_ENV)
        log:
            f"{R}/logs/judge_general/{{backbone}}/{{method}}.log",
        benchmark:
            f"{R}/benchmarks/judge_general/{{backbone}}/{{method}}.tsv"
        shell:
            "OMP_NUM_THREADS={threads} {RADIS_JUDGE} judge --eval-dir {R}/eval/{wildcards.backbone}/{wildcards.method} "
            "--data-dir {R}/data/general --judge-model {params.judge_models} --cache-dir {R}/judge-cache "
            "--backbone {wildcards.backbone} --method {wildcards.method} "
            "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"


def gsm8k_settings(w):
    return {
        "seed": config["seed"],
        "gsm8k": GENERAL["gsm8k"],
        "backend": config["generation"]["backend"],
        "dtype": config["generation"]["dtype"],
        **device_settings(w.backbone),
    }


rule gsm8k:
    input:
        model=lambda w: model_dir(w.backbone, w.method),
        data=general_files("gsm8k"),
    output:
        result=expand(GENERAL_RESULT, benchmark="gsm8k", allow_missing=True)[0],
        samples=f"{R}/eval/{{backbone}}/{{method}}/gsm8k.samples.jsonl",
    params:
        settings=lambda w: settings_arg(gsm8k_settings(w)),
        work=f"{R}/eval/{{backbone}}/{{method}}/gsm8k.work",
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(gsm8k_settings(w)),
        gpu=gpu_count(MODEL_GPUS),
        gpu_model=gpu_type(MODEL_GPUS),
    conda:
        conda_env(GEN_ENV)
    log:
        f"{R}/logs/gsm8k/{{backbone}}/{{method}}.log",
    benchmark:
        f"{R}/benchmarks/gsm8k/{{backbone}}/{{method}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {RADIS_GEN} gsm8k --model {input.model} --data-dir {R}/data/general "
        "--backbone {wildcards.backbone} --method {wildcards.method} --out {output.result} "
        "--samples {output.samples} --work-dir {params.work} --settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"
