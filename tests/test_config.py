"""The config is validated once when the DAG is parsed: every mistake is one error naming the key."""

import copy
from pathlib import Path

import pytest
import yaml

from radis.config import deep_merge, directions, load_config, method_training, validate_config
from radis.settings import ConfigError, DecodingParams

EMBEDDED = "smollm2-135m"


@pytest.fixture(scope="module")
def default(repo_root):
    return load_config(repo_root / "config/config.yaml")


@pytest.fixture(scope="module")
def paper(repo_root):
    return load_config(repo_root / "config/config.yaml", repo_root / "config/paper.yaml")


def raw(repo_root, name):
    return yaml.safe_load((repo_root / "config" / name).read_text(encoding="utf-8"))


def test_default_config_is_valid(default):
    assert default["experiment"]["backbones"] == [EMBEDDED]
    assert len(directions(default)) == 8


def test_paper_overlay_is_valid_and_its_lists_replace(paper, repo_root):
    assert paper["experiment"]["backbones"] == raw(repo_root, "paper.yaml")["experiment"]["backbones"]
    # Dicts merge: the embedded backbone stays in the catalogue beside the paper's two.
    assert EMBEDDED in paper["backbones"]
    assert {d.src if d.tgt == "en" else d.tgt for d in directions(paper)} == {"cs", "de", "ru", "zh"}


@pytest.mark.parametrize("name", ["default", "paper"])
@pytest.mark.parametrize("stage", ["rationale", "seqkd", "sdft", "translation"])
def test_decoding_sections_fit_decoding_params(request, name, stage):
    """The paper evaluates greedily and samples its synthesis with each model's own sampler (Eq. 1);
    the embedded default keeps synthesis greedy."""
    params = DecodingParams.from_config(request.getfixturevalue(name)["decoding"][stage])
    sampled = name == "paper" and stage != "translation"
    assert params.greedy is not sampled and params.sampling == ("model" if sampled else "params")


def _set(path, value):
    def mutate(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value
    return mutate


def _add_backbone(name, spec=None):
    def mutate(config):
        config["backbones"][name] = spec or copy.deepcopy(config["backbones"][EMBEDDED])
        config["experiment"]["backbones"] = [name]
    return mutate


def _append(path, value):
    def mutate(config):
        node = config
        for key in path.split("."):
            node = node[key]
        node.append(value)
    return mutate


#: (case id, mutation of the default config, what the message names: the key first, then details)
BAD = [
    ("negative lr", _set("training.learning_rate", -1e-4), ["'training.learning_rate'"]),
    ("zero lr in a method override", _set("methods.seqkd.training", {"learning_rate": 0}),
     ["'methods.seqkd.training.learning_rate'"]),
    ("typo at top level", _set("seeed", 1), ["'<top level>'", "'seeed'"]),
    ("typo at depth 2", _set("training.learnig_rate", 1e-4), ["'training'", "'learnig_rate'"]),
    ("typo at depth 3", _set("training.lora.rank", 16), ["'training.lora'", "'rank'"]),
    ("typo at depth 4", _set(f"backbones.{EMBEDDED}.source.pakage", "x"),
     [f"'backbones.{EMBEDDED}.source'", "'pakage'"]),
    ("typo in a method override", _set("methods.seqkd.training.batchsize", 32),
     ["'methods.seqkd.training'", "'batchsize'"]),
    ("unknown language", _append("experiment.directions", "xx-en"), ["'experiment.directions.8'", "'xx'"]),
    ("direction not src-tgt", _append("experiment.directions", "csen"), ["'experiment.directions.8'"]),
    ("not English-centric", _append("experiment.directions", "cs-de"),
     ["'experiment.directions.8'", "English-centric"]),
    ("duplicate direction", _append("experiment.directions", "cs-en"), ["'experiment.directions'"]),
    ("backbone name with /", _add_backbone("meta-llama/Llama-2"), ["'backbones'", "'meta-llama/Llama-2'"]),
    ("backbone name ..", _add_backbone(".."), ["'backbones'", "'..'"]),
    ("backbone name with ;", _add_backbone("x;rm"), ["'backbones'", "'x;rm'"]),
    ("grid names an unsafe backbone", _set("experiment.backbones", ["../x"]), ["'experiment.backbones.0'"]),
    ("grid names an undefined backbone", _set("experiment.backbones", ["llama"]),
     ["'experiment.backbones.0'", "'llama'"]),
    ("hub backbone without revision", _add_backbone("mistral", {"source": {"kind": "hub", "id": "mistralai/M"}}),
     ["'backbones.mistral.source'", "'revision'"]),
    ("hub backbone with an empty revision",
     _add_backbone("mistral", {"source": {"kind": "hub", "id": "mistralai/M", "revision": ""}}),
     ["'backbones.mistral.source.revision'"]),
    ("local backbone without path", _add_backbone("mine", {"source": {"kind": "local"}}),
     ["'backbones.mine.source'", "'path'"]),
    ("undefined method in the grid", _set("experiment.methods", ["vanilla", "magic"]),
     ["'experiment.methods.1'", "'magic'"]),
    ("unknown builder", _set("methods.magic", {"builder": "magic"}), ["'methods.magic.builder'"]),
    ("wrong type: epochs", _set("training.epochs", "three"), ["'training.epochs'", "number"]),
    ("wrong type: seed", _set("seed", "42"), ["'seed'", "integer"]),
    ("wrong type: bf16", _set("training.bf16", "yes"), ["'training.bf16'", "boolean"]),
    ("bad enum: backend", _set("generation.backend", "tgi"), ["'generation.backend'", "'tgi'"]),
    ("bad enum: scheduler", _set("training.lr_scheduler", "cosine_annealing"), ["'training.lr_scheduler'"]),
    ("bad enum: data source", _set("data.source", "ftp"), ["'data.source'"]),
    ("instruction index out of range", _set("evaluation.translation.instruction", 5),
     ["'evaluation.translation.instruction'"]),
    ("zero max_new_tokens", _set("decoding.rationale.max_new_tokens", 0), ["'decoding.rationale.max_new_tokens'"]),
    ("dataset id without owner", _set("data.hub.train.id", "ALMA"), ["'data.hub.train.id'"]),
    ("missing section", lambda c: c.pop("decoding"), ["'<top level>'", "'decoding'"]),
    ("prior model not in the catalogue", _set("experiment.prior_models", ["alma-7b"]),
     ["'experiment.prior_models.0'", "'alma-7b'"]),
    ("prior model that is also a backbone", _set("experiment.prior_models", [EMBEDDED]),
     ["'experiment.prior_models.0'", "also in experiment.backbones"]),
    ("unknown prompt format", _set("backbones.smollm2-135m-alma-prompt.prompt_format", "klingon"),
     ["'backbones.smollm2-135m-alma-prompt.prompt_format'", "'klingon'", "known: alma, bayling"]),
    ("unknown AlpacaEval annotator", _set("general.alpacaeval.annotator", "gpt5_judge"),
     ["'general.alpacaeval.annotator'", "unknown AlpacaEval annotator 'gpt5_judge'"]),
    ("AlpacaEval annotator of another API", _set("general.alpacaeval.annotator", "claude"),
     ["'general.alpacaeval.annotator'", "anthropic_completions"]),
    ("delta source without base", _add_backbone("bayling", {"source": {"kind": "delta", "delta": {
        "kind": "hub", "id": "ICTNLP/bayling-7b-diff", "revision": "main"}}}),
     ["'backbones.bayling.source'", "'base'"]),
]


@pytest.mark.parametrize("mutate, expected", [pytest.param(m, e, id=i) for i, m, e in BAD])
def test_bad_config_names_the_key(default, mutate, expected):
    config = copy.deepcopy(default)
    mutate(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    assert message.startswith(f"config key {expected[0]}:"), message
    for part in expected[1:]:
        assert part in message, message


def test_bad_overlay_file_is_rejected(repo_root, tmp_path):
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("training:\n  learning_rate: -1\n")
    with pytest.raises(ConfigError, match="'training.learning_rate'"):
        load_config(repo_root / "config/config.yaml", overlay)


@pytest.mark.parametrize("name, overlay", [("default", []), ("paper", ["paper.yaml"])])
def test_method_training_merges_overrides(repo_root, name, overlay):
    config = load_config(repo_root / "config/config.yaml", *[repo_root / "config" / o for o in overlay])
    before = copy.deepcopy(config)
    shared = config["training"]
    seqkd = method_training(config, "seqkd")
    vanilla = method_training(config, "vanilla")
    assert seqkd["batch_size"] == config["methods"]["seqkd"]["training"]["batch_size"]
    # Seq-KD trains on twice the examples, so its batch doubles to keep the step count (paper: 256).
    assert seqkd["batch_size"] == 2 * shared["batch_size"]
    assert vanilla == shared
    assert {k: v for k, v in seqkd.items() if k != "batch_size"} == {
        k: v for k, v in shared.items() if k != "batch_size"}
    assert config == before  # merging never writes into the config


def test_paper_config_has_the_papers_training_numbers(paper):
    """§4.1 / Appendix B: LoRA r16 (alpha 2×r), 3 epochs, lr 1e-4, cosine, batch 128 (Seq-KD 256)."""
    training = method_training(paper, "radis")
    assert (training["lora"]["r"], training["lora"]["alpha"], training["epochs"], training["learning_rate"],
            training["lr_scheduler"], training["batch_size"]) == (16, 32, 3, 1e-4, "cosine", 128)
    assert method_training(paper, "seqkd")["batch_size"] == 256


def test_deep_merge_merges_dicts_and_replaces_lists():
    base = {"a": [1, 2, 3], "b": {"c": 1, "d": {"e": [1], "f": 2}}, "g": "x"}
    override = {"a": [9], "b": {"d": {"e": [], "h": 3}}, "i": None}
    merged = deep_merge(base, override)
    assert merged == {"a": [9], "b": {"c": 1, "d": {"e": [], "f": 2, "h": 3}}, "g": "x", "i": None}
    assert base == {"a": [1, 2, 3], "b": {"c": 1, "d": {"e": [1], "f": 2}}, "g": "x"}
    merged["b"]["c"] = 99
    assert base["b"]["c"] == 1  # a deep copy, not shared structure


def test_deep_merge_lets_a_scalar_replace_a_dict_and_back():
    assert deep_merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert deep_merge({"a": 5}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_paper_config_runs_gsm8k_plain_5_shot_and_fastchat_temperatures():
    """The paper's GSM8K figures match plain 5-shot (no chat template); MT-Bench answers follow
    FastChat's per-category temperatures (docs/method.md: Deviations)."""
    root = Path(__file__).resolve().parents[1]
    paper = load_config(root / "config/config.yaml", root / "config/paper.yaml")
    gsm8k = paper["general"]["gsm8k"]
    assert (gsm8k["num_fewshot"], gsm8k["apply_chat_template"], gsm8k["fewshot_as_multiturn"]) == (5, False, False)
    assert paper["general"]["mtbench"]["temperatures"] == "fastchat"
    assert paper["evaluation"]["translation"]["postprocess"] == "chat"


def test_training_settings_are_typed_once_with_the_schemas_defaults(default):
    """radis.settings.TrainingSettings: what the trainer reads, from the method's training section
    (the LoRA rank as an attribute, not settings["lora"]["r"]); a left-out key with a schema default
    takes it, one without is an error naming the key."""
    from radis.settings import TrainingSettings

    section = method_training(default, "radis")
    typed = TrainingSettings.from_config({k: v for k, v in section.items() if k != "overlong"})
    assert typed.lora.r == section["lora"]["r"] == 16 and typed.overlong == "error"
    assert typed.micro_batch_size == section["micro_batch_size"]
    assert TrainingSettings.from_config({**section, "finetuning": "full", "lora": None}).lora is None
    with pytest.raises(ConfigError, match="'training.lora': required"):
        TrainingSettings.from_config({**section, "lora": None})
    with pytest.raises(ConfigError, match="'training.epochs': required"):
        TrainingSettings.from_config({k: v for k, v in section.items() if k != "epochs"})
