"""Multi-GPU training launch: the command radis.launch builds, and the configs it points at."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from radis.launch import CONFIG_DIR, launch_command, train_command

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def option(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


@pytest.mark.parametrize("n_gpus", [0, 1])
def test_one_device_runs_plain_python(n_gpus):
    assert train_command(n_gpus, 2) == [PY, "-m", "radis"]


@pytest.mark.parametrize("stage", [2, 3])
def test_several_gpus_run_accelerate_with_deepspeed(stage):
    cmd = train_command(4, stage)
    assert cmd[:3] == [PY, "-m", "accelerate.commands.launch"]
    assert cmd[-2:] == ["-m", "radis"]
    assert option(cmd, "--num_processes") == "4" and option(cmd, "--num_machines") == "1"
    assert option(cmd, "--mixed_precision") == "bf16"
    config, ds = Path(option(cmd, "--config_file")), Path(option(cmd, "--deepspeed_config_file"))
    assert config.is_absolute() and config == CONFIG_DIR / f"zero{stage}.yaml" and config.is_file()
    assert ds.is_absolute() and ds == CONFIG_DIR / f"ds_zero{stage}.json" and ds.is_file()


def test_each_launch_rendezvous_on_a_port_of_its_own():
    """Two training jobs on one node (two 4-GPU jobs on an 8-GPU node, two CPU jobs in the rehearsal)
    must not both take accelerate's default port 29500: the second would fail to rendezvous."""
    ports = [int(option(train_command(2, None), "--main_process_port")) for _ in range(2)]
    assert all(1024 < p < 65536 for p in ports) and 29500 not in ports


def test_no_zero_stage_is_plain_ddp():
    cmd = train_command(2, None, mixed_precision="no")
    assert Path(option(cmd, "--config_file")).name == "ddp.yaml"
    assert "--deepspeed_config_file" not in cmd and option(cmd, "--mixed_precision") == "no"


@pytest.mark.parametrize("kwargs", [{"zero_stage": 1}, {"zero_stage": 2, "mixed_precision": "fp32"}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        train_command(4, **kwargs)


def test_the_gpus_a_job_really_has_decide():
    args = ["train", "--backbone", "b"]
    assert launch_command(4, 2, "bf16", args, available=0) == [PY, "-m", "radis", *args]
    assert option(launch_command(4, 2, "bf16", args, available=2), "--num_processes") == "2"
    assert option(launch_command(2, 2, "bf16", args, available=8), "--num_processes") == "2"


def test_cli_dry_run_prints_the_command():
    run = subprocess.run([PY, "-m", "radis.launch", "--gpus", "4", "--zero-stage", "none", "--dry-run", "--",
                          "train", "--out", "x"], capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert run.returncode == 0, run.stderr
    # no GPU visible: one process whatever was asked
    assert shlex.split(run.stdout) == [PY, "-m", "radis", "train", "--out", "x"]


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_leave_batch_and_precision_to_the_trainer(stage):
    ds = json.loads((CONFIG_DIR / f"ds_zero{stage}.json").read_text())
    assert ds["zero_optimization"]["stage"] == stage
    for key in ("gradient_accumulation_steps", "train_micro_batch_size_per_gpu", "gradient_clipping"):
        assert ds[key] == "auto", key  # filled from training.* by the Hugging Face Trainer
    assert ds["bf16"]["enabled"] == "auto"
    assert "train_batch_size" not in ds  # DeepSpeed derives it: micro × GPUs × accumulation
    if stage == 3:  # a ZeRO-3 model is saved whole, not as shards
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.parametrize("name,kind", [("zero2.yaml", "DEEPSPEED"), ("zero3.yaml", "DEEPSPEED"), ("ddp.yaml", "MULTI_GPU")])
def test_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIG_DIR / name))
    assert config.distributed_type.name == kind and config.num_machines == 1
    raw = yaml.safe_load((CONFIG_DIR / name).read_text())
    # accelerate refuses mixed_precision in a config next to a deepspeed_config_file: it is passed
    # on the command line instead
    assert "mixed_precision" not in raw
    if kind == "DEEPSPEED":
        ds_file = raw["deepspeed_config"]["deepspeed_config_file"]
        assert (REPO / ds_file).is_file() and ds_file.endswith(f"ds_{name.replace('.yaml', '.json')}")


def test_auto_takes_precision_and_stage_from_the_step_settings():
    from radis.launch import resolve_auto

    lora = ["train", "--settings", json.dumps({"training": {"bf16": True, "finetuning": "lora"}, "seed": 1})]
    assert resolve_auto("auto", "auto", lora) == (None, "bf16")  # LoRA: plain DDP
    full = ["train", f"--settings={json.dumps({'training': {'bf16': False, 'finetuning': 'full'}})}"]
    assert resolve_auto("auto", "auto", full) == (2, "no")  # full fine-tuning: ZeRO-2
    full3 = ["train", "--settings", json.dumps({"training": {"finetuning": "full", "zero_stage": 3}})]
    assert resolve_auto("auto", "auto", full3) == (3, "no")
    assert resolve_auto(2, "fp16", full) == (2, "fp16")  # explicit values win
    assert resolve_auto("auto", "auto", ["train"]) == (None, "no")


def test_a_cpu_step_starts_its_training_gpus_as_cpu_processes_whatever_gpus_the_node_shows():
    """compute.device: cpu (the rehearsal of the paper run): training.gpus processes on the CPU, over
    gloo, through the same accelerate launch as on GPUs; a GPU step gets what the node really has."""
    from radis.config import split_hardware
    from radis.launch import cpu_processes, process_environment

    def args(device, gpus=2, finetuning="lora"):
        """As the train rule passes them: the device and training.gpus in --hardware, apart."""
        result, hardware = split_hardware({"device": device, "training": {"finetuning": finetuning, "gpus": gpus}})
        return ["train", "--settings", json.dumps(result), "--hardware", json.dumps(hardware)]

    assert cpu_processes(args("cpu")) == 2 and cpu_processes(args("cuda")) is None
    assert cpu_processes(args("cpu", gpus=1)) == 1
    cmd = launch_command(4, None, "no", args("cpu"), available=8)  # the node's GPUs are not used
    assert option(cmd, "--num_processes") == "2" and Path(option(cmd, "--config_file")).name == "ddp.yaml"
    assert launch_command(4, 3, "no", args("cpu", gpus=1), available=8)[:3] == [PY, "-m", "radis"]
    assert option(launch_command(4, 2, "bf16", args("cuda"), available=8), "--num_processes") == "4"
    assert launch_command(4, 2, "bf16", args("auto"), available=0)[:3] == [PY, "-m", "radis"]
    # DeepSpeed on its CPU accelerator; the job's threads shared out, not one per core per process
    assert process_environment(args("cpu"), {"OMP_NUM_THREADS": "8"}) == {"DS_ACCELERATOR": "cpu",
                                                                          "OMP_NUM_THREADS": "4"}
    assert process_environment(args("cpu", gpus=1), {}) == {} and process_environment(args("cuda"), {}) == {}
