# Tables 1 (EN→X), 2 (X→EN), 3 (general ability) and Figure 1, from the per-cell result files alone.


localrules:
    tables,
    table3,
    figure1,


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


rule table3:
    input:
        general_cells(),
    output:
        multiext(f"{R}/tables/table3", ".md", ".csv", ".tex"),
    params:
        settings=as_arg({"backbones": BACKBONES, "methods": METHODS, "benchmarks": GENERAL["benchmarks"]}),
    log:
        f"{R}/logs/table3.log",
    benchmark:
        f"{R}/benchmarks/table3.tsv"
    shell:
        "{RADIS} table3 --results {input} --out {R}/tables/table3 --settings {params.settings} > {log} 2>&1"


rule figure1:
    input:
        translation=translation_cells(),
        mtbench=expand(
            f"{R}/eval/{{backbone}}/{{method}}/mtbench.json", backbone=BACKBONES, method=["base", *METHODS]
        ),
    output:
        png=f"{R}/figures/figure1.png",
        points=f"{R}/figures/figure1.json",
    log:
        f"{R}/logs/figure1.log",
    benchmark:
        f"{R}/benchmarks/figure1.tsv"
    shell:
        "{RADIS} figure1 --translation {input.translation} --mtbench {input.mtbench} --out {output.png} "
        "--points {output.points} > {log} 2>&1"
