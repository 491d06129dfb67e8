# ALMA human-written parallel data (train) and WMT22 (test), one JSONL per direction.
# Local rules: downloads run where the internet is (the login node), not on compute nodes.


localrules:
    prepare_data,


rule prepare_data:
    output:
        f"{R}/data/{{split}}/{{direction}}.jsonl",
    log:
        job_log("prepare_data", "{split}/{direction}"),
    benchmark:
        job_benchmark("prepare_data", "{split}/{direction}")
    conda:
        conda_env("main")
    params:
        settings=lambda w: as_arg(data_settings(w.split)),
    shell:
        "{RADIS} prepare-data --split {wildcards.split} --direction {wildcards.direction} "
        "--out {output} --settings {params.settings} > {log} 2>&1"
