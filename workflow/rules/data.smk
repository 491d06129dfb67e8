# ALMA human-written parallel data (train) and WMT22 (test), one JSONL per direction.
# Local rules: downloads run where the internet is (the login node), not on compute nodes.


localrules:
    prepare_data,


rule prepare_data:
    output:
        f"{R}/data/{{split}}/{{direction}}.jsonl",
    log:
        f"{R}/logs/prepare_data/{{split}}/{{direction}}.log",
    benchmark:
        f"{R}/benchmarks/prepare_data/{{split}}/{{direction}}.tsv"
    conda:
        conda_env("main")
    params:
        settings=lambda w: as_arg(data_settings(w.split)),
    shell:
        "{RADIS} prepare-data --split {wildcards.split} --direction {wildcards.direction} "
        "--out {output} --settings {params.settings} > {log} 2>&1"
