"""Config overlays shared by the tests that run the real DAG (local end-to-end, SLURM).

``TINY`` runs the embedded default at tiny sizes: 2 directions, 2 sentences each, short
generations, one epoch, a few items per general-ability benchmark and analysis. Every method and
every table still gets built, on real data with the real model, in a few minutes on 2 cores.
Test-specific settings (e.g. the end-to-end test's judge key sentinel) go on top in the test.
"""

TINY = {
    "experiment": {"directions": ["cs-en", "en-de"]},
    "data": {"train_limit": 2, "test_limit": 2},
    "decoding": {
        "rationale": {"max_new_tokens": 12, "min_new_tokens": 4},
        "seqkd": {"max_new_tokens": 12},
        "sdft": {"max_new_tokens": 12},
        "translation": {"max_new_tokens": 12},
    },
    "training": {"epochs": 1, "batch_size": 2, "micro_batch_size": 1, "max_length": 160, "save_steps": 1},
    "methods": {"seqkd": {"training": {"batch_size": 4}}},
    "general": {
        "mtbench": {"limit": 2, "judge_max_tokens": 12, "decoding": {"max_new_tokens": 8}},
        "alpacaeval": {"limit": 2, "decoding": {"max_new_tokens": 8}},
        "advbench": {"limit": 2, "decoding": {"max_new_tokens": 8}},
        "gsm8k": {"limit": 1, "max_gen_toks": 8, "batch_size": 1},
    },
    "analysis": {"rationale_categories": {"per_direction": 1, "max_tokens": 8},
                 "gradient_similarity": {"per_direction": 1, "max_length": 128, "lora_r": 4}},
}
