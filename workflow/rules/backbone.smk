# Each backbone (and prior MT model) as a local Hugging Face directory: later stages never touch a hub.


localrules:
    materialise_backbone,


rule materialise_backbone:
    input:
        lambda w: local_sources(w.backbone),
    output:
        directory(f"{R}/backbones/{{backbone}}"),
    params:
        settings=lambda w: as_arg(materialise_settings(w.backbone)),
    conda:
        conda_env("main")
    log:
        f"{R}/logs/materialise_backbone/{{backbone}}.log",
    benchmark:
        f"{R}/benchmarks/materialise_backbone/{{backbone}}.tsv"
    shell:
        "{RADIS} materialise --name {wildcards.backbone} --out {output} "
        "--settings {params.settings} > {log} 2>&1"
