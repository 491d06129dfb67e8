# What each step is told, per stage: its settings (radis.config; the params and the hardware
# resource), its inputs and its GPUs. Functions only (Snakemake's lint: rules and functions apart);
# the rule files hold rules only. Included after common.smk, before every rule file.


# ---- data ----------------------------------------------------------------------------------------
def data_settings(split):
    data = config["data"]
    mirror = Path(data["mirror"])
    return {
        "source": data["source"],
        "mirror": str(mirror if mirror.is_absolute() else REPO / mirror),
        "hub": data["hub"],
        "sha256": data.get("sha256", {}),
        "limit": data[f"{split}_limit"],
        "seed": config["seed"],
    }


# ---- backbone ------------------------------------------------------------------------------------
def local_sources(backbone):
    """Model directories a backbone is copied or built from (another rule may make them)."""
    source = backbone_entry(backbone)["source"]
    sides = [source["base"], source["delta"]] if source["kind"] == "delta" else [source]
    return [s["path"] for s in sides if s["kind"] == "local"]


# ---- synth ---------------------------------------------------------------------------------------
SYNTH_GPUS = lambda w: model_gpus(generator_backbone(w.backbone, w.kind))


def synthesize_settings(w):
    """A synthesis chain's settings: its seed is that of the kind's variant (radis.seeds)."""
    return generation_settings(
        w.backbone, synth_type(w.kind), generator_backbone(w.backbone, w.kind), seed=seed_of(w.kind, SEEDS)
    )


# ---- train ---------------------------------------------------------------------------------------
def trainset_inputs(w):
    inputs = {"data": expand(f"{R}/data/train/{{direction}}.jsonl", direction=DIRECTIONS)}
    kind = synth_kind(w.method)
    if kind is not None:
        inputs["synth"] = expand(f"{R}/synth/{w.backbone}/{kind}/{{direction}}.jsonl", direction=DIRECTIONS)
    return inputs


def synth_dir_arg(w):
    kind = synth_kind(w.method)
    return f"--synth-dir {R}/synth/{w.backbone}/{kind}" if kind else ""


def trainset_settings(w):
    return {"builder": config["methods"][method_of(w.method)]["builder"], "seed": seed_of(w.method, SEEDS)}


def training_settings(method):
    """A method's training settings without `report_to`: where its curves are logged changes nothing
    that is learned, so it stays out of the settings that key checkpoints (radis.training.checkpoints)
    and goes to the job beside them."""
    return {k: v for k, v in method_training(config, method).items() if k != "report_to"}


#: GPUs of a training job: training.gpus of the method (data-parallel, one process each)
TRAIN_GPUS = lambda w: method_training(config, method_of(w.method))["gpus"]


def train_settings(w):
    return {
        **device_settings(),
        "training": training_settings(method_of(w.method)),
        "report_to": method_training(config, method_of(w.method))["report_to"],
        "seed": seed_of(w.method, SEEDS),  # the chain's (radis.seeds)
        "trust_remote_code": trust_remote_code(backbone_entry(w.backbone)),
    }


def merge_settings(w):
    return {
        "bf16": method_training(config, method_of(w.method))["bf16"],
        "trust_remote_code": trust_remote_code(backbone_entry(w.backbone)),
    }


# ---- evaluate ------------------------------------------------------------------------------------
def comet_settings():
    """What COMET scoring reads of the hub: model, revision and encoder; each only when set, so the
    settings (the params) of runs that leave it out stay as they were."""
    ev = config["evaluation"]
    return {
        "comet_model": ev["comet_model"],
        **{k: v for k, v in ev.items() if k == "comet_revision"},
        **({"comet_encoder": ev["comet_encoder"]} if ev["comet_model"] and "comet_encoder" in ev else {}),
    }


def score_settings():
    return {
        **comet_settings(),
        "comet_batch_size": config["evaluation"].get("comet_batch_size", schema_default("evaluation.comet_batch_size")),
    }


def comet_download():
    """The download a score job waits for: none without COMET."""
    return [COMET_DOWNLOAD] if config["evaluation"]["comet_model"] else []


#: GPUs of a job that generates with one model of the grid: those of its backbone (vLLM: its TP size)
MODEL_GPUS = lambda w: model_gpus(w.backbone)


def translate_settings(w):
    return {
        **generation_settings(w.backbone, "translation"),
        "evaluation": config["evaluation"]["translation"],
        **prompt_format_settings(w.backbone),
    }


# ---- general -------------------------------------------------------------------------------------
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
                "section": {
                    k: v for k, v in GENERAL[benchmark_of(b).section].items() if k not in ("decoding", "limit")
                },
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


def gsm8k_settings(w):
    return {
        "seed": config["seed"],
        "gsm8k": GENERAL["gsm8k"],
        "backend": config["generation"]["backend"],
        "dtype": config["generation"]["dtype"],
        **device_settings(w.backbone),
    }


def generate_general_settings(w):
    return {
        **device_settings(w.backbone),
        "seed": config["seed"],
        "generation": config["generation"],
        "benchmarks": {
            r: {
                "decoding": GENERAL[r]["decoding"],
                "limit": GENERAL[r].get("limit"),
                "temperatures": GENERAL[r].get("temperatures"),
            }
            for r in RESPONSE_SETS
        },
        "trust_remote_code": trust_remote_code(backbone_entry(w.backbone)),
    }


# ---- drift ---------------------------------------------------------------------------------------
from radis.evaluate.drift import DRIFT_SETS, answers_reuse_responses

DRIFT = GENERAL["drift"]


def drift_reuses_responses():
    return answers_reuse_responses(GENERAL)


def drift_answers_dir(backbone):
    if drift_reuses_responses():
        return f"{R}/eval/{backbone}/base"
    return f"{R}/eval/{backbone}/base/drift-answers"


def drift_cells(methods):
    """One drift result per backbone × applicable trained method × seed (the backbone row is the reference)."""
    return (
        [DRIFT_RESULT.format(backbone=b, method=m) for b in BACKBONES for m in trained_models(b, methods)]
        if DRIFT["enabled"]
        else []
    )


def drift_settings(w):
    return {
        **device_settings(),
        "batch_size": DRIFT["batch_size"],
        "dtype": config["generation"]["dtype"],
        "trust_remote_code": trust_remote_code(backbone_entry(w.backbone)),
    }


def drift_answers_settings(w):
    return {
        **device_settings(w.backbone),
        "seed": config["seed"],
        "generation": config["generation"],
        # the general-ability subsets and lengths, decoded greedily
        "benchmarks": {
            s: {
                "decoding": {**GENERAL[s]["decoding"], "temperature": 0},
                "limit": GENERAL[s].get("limit"),
                "temperatures": "greedy",
            }
            for s in DRIFT_SETS
        },
        "trust_remote_code": trust_remote_code(backbone_entry(w.backbone)),
    }


# ---- analysis ------------------------------------------------------------------------------------
ANALYSIS = config["analysis"]


def analysis_judge():
    name = ANALYSIS["rationale_categories"]["judge"]
    return name, config["judges"][name]


#: the judge's prompt: a JSON list of categories, or one yes/no question per category for a judge scored
#: by log-probabilities (radis.analysis.rationales)
RATIONALE_PROMPT = (
    "rationale_category_yesno" if analysis_judge()[1].get("scoring") == "logprobs" else "rationale_categories"
)

#: Table 4's judge, when served with `vllm serve`, runs in vLLM's environment (as judge_general)
TABLE4_ENV = served_judge_env([analysis_judge()[1]])
RADIS_TABLE4 = radis_command(TABLE4_ENV)


def table4_settings():
    return {
        **ANALYSIS["rationale_categories"],
        "judge_name": analysis_judge()[0],
        "judge": analysis_judge()[1],
        "seed": config["seed"],
    }


def figure4_settings(w=None):
    return {**ANALYSIS["gradient_similarity"], **device_settings(), "seed": config["seed"]}


# ---- report --------------------------------------------------------------------------------------
def tables_settings():
    return {
        "backbones": BACKBONES,
        "methods": METHODS,
        "directions": DIRECTIONS,
        "prior": prior_settings(),
        "bootstrap": BOOTSTRAP,
        **seed_settings(),
    }


def table3_settings():
    return {
        "backbones": BACKBONES,
        "methods": METHODS,
        "benchmarks": GENERAL["benchmarks"],
        "prior": prior_settings(),
        "drift": DRIFT["enabled"],
        "bootstrap": BOOTSTRAP,
        **seed_settings(),
    }


def figure1_settings():
    return {"prior": prior_settings(), **seed_settings()}


def drift_figure_settings():
    return {"bootstrap": BOOTSTRAP, **seed_settings()}


def claims_settings():
    return {"backbones": BACKBONES, "methods": METHODS, "seeds": SEEDS, "bootstrap": BOOTSTRAP}


def table5_settings():
    return {
        # the paper's Table 5 shows only the backbone trained on other models' rationales
        "backbones": [b for b in BACKBONES if methods_of(b, EXTERNAL)],
        "backbone_names": {b: backbone_entry(b).get("label", b) for b in BACKBONES},
        "methods": {b: ["vanilla", "radis", *methods_of(b, EXTERNAL)] for b in BACKBONES},
        "generators": {m: config["methods"][m]["rationale_generator"] for m in EXTERNAL},
        "benchmarks": GENERAL["benchmarks"],
        "drift": DRIFT["enabled"],
        "bootstrap": BOOTSTRAP,
        **seed_settings(),
    }


def reproduction_settings():
    """The run's setup against the paper's (radis.reproduction): the result-changing settings that
    differ from config/paper.yaml, and which of our backbones stand in for the paper's."""
    from radis.config import load_config
    from radis.reproduction import setup_differences

    paper = load_config(REPO / "config/config.yaml", REPO / "config/paper.yaml")
    theirs = paper["experiment"]["backbones"]
    stand_in = {b: theirs[i] for i, b in enumerate(BACKBONES) if b not in theirs and i < len(theirs)}
    labels = {name: entry.get("label", name) for name, entry in {**paper["backbones"], **config["backbones"]}.items()}
    return {
        "differences": setup_differences(config, paper),
        "stand_in": stand_in,
        "labels": labels,
        "directions": DIRECTIONS,
        "bootstrap": BOOTSTRAP,
    }


def reproduced_tables():
    """The rendered tables the reproduction compares: Tables 1-2 always, 3 and 5 where built."""
    tables = [1, 2] + ([3] if GENERAL["benchmarks"] else []) + ([5] if EXTERNAL else [])
    return [f"{R}/tables/table{n}.csv" for n in tables]
