# Each backbone (and prior MT model) as a local Hugging Face directory: later stages never touch a hub.


localrules:
    materialise_backbone,


rule materialise_backbone:
    input:
        lambda w: local_sources(w.backbone),
    output:
        directory(f"{R}/backbones/{{backbone}}"),
    log:
        job_log("materialise_backbone", "{backbone}"),
    benchmark:
        job_benchmark("materialise_backbone", "{backbone}")
    conda:
        conda_env("main")
    params:
        settings=lambda w: as_arg(materialise_settings(w.backbone)),
    shell:
        "{RADIS} materialise --name {wildcards.backbone} --out {output} " "--settings {params.settings} > {log} 2>&1"
