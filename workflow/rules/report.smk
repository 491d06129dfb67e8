# Tables 1 (EN→X) and 2 (X→EN) from the per-cell result files alone.


localrules:
    tables,


rule tables:
    input:
        translation_cells(),
    output:
        multiext(f"{R}/tables/table1", ".md", ".csv", ".tex"),
        multiext(f"{R}/tables/table2", ".md", ".csv", ".tex"),
    params:
        settings=as_arg({"backbones": BACKBONES, "methods": METHODS, "directions": DIRECTIONS}),
    log:
        f"{R}/logs/tables.log",
    benchmark:
        f"{R}/benchmarks/tables.tsv"
    shell:
        "{RADIS} tables --results {input} --table1 {R}/tables/table1 --table2 {R}/tables/table2 "
        "--settings {params.settings} > {log} 2>&1"
