# ALMA human-written parallel data (train) and WMT22 (test), one JSONL per direction.
# Local rules: downloads run where the internet is (the login node), not on compute nodes.


localrules:
    prepare_data,


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


rule prepare_data:
    output:
        f"{R}/data/{{split}}/{{direction}}.jsonl",
    params:
        settings=lambda w: as_arg(data_settings(w.split)),
    conda:
        conda_env("main")
    log:
        f"{R}/logs/prepare_data/{{split}}/{{direction}}.log",
    benchmark:
        f"{R}/benchmarks/prepare_data/{{split}}/{{direction}}.tsv"
    shell:
        "{RADIS} prepare-data --split {wildcards.split} --direction {wildcards.direction} "
        "--out {output} --settings {params.settings} > {log} 2>&1"
