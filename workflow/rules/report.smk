# Tables 1 (EN→X), 2 (X→EN), 3 (general ability) and Figure 1, from the per-cell result files alone;
# the prior MT models (experiment.prior_models) are the last group of Tables 1-3, in their config order.


localrules:
    tables,
    table3,
    figure1,


rule tables:
    input:
        translation_cells(METHODS),
    output:
        f"{R}/tables/table1.md",
        report(f"{R}/tables/table1.csv", caption="../report/table1.rst", category="Tables"),
        f"{R}/tables/table1.tex",
        f"{R}/tables/table2.md",
        report(f"{R}/tables/table2.csv", caption="../report/table2.rst", category="Tables"),
        f"{R}/tables/table2.tex",
    log:
        job_log("tables"),
    benchmark:
        job_benchmark("tables")
    conda:
        conda_env("main")
    params:
        settings=as_arg(tables_settings()),
    shell:
        "{RADIS} tables --results {input} --table1 {R}/tables/table1 --table2 {R}/tables/table2 "
        "--settings {params.settings} > {log} 2>&1"


rule table3:
    input:
        results=general_cells(METHODS),
        drift=drift_cells(METHODS),
    output:
        f"{R}/tables/table3.md",
        report(f"{R}/tables/table3.csv", caption="../report/table3.rst", category="Tables"),
        f"{R}/tables/table3.tex",
    log:
        job_log("table3"),
    benchmark:
        job_benchmark("table3")
    conda:
        conda_env("main")
    params:
        settings=as_arg(table3_settings()),
    shell:
        "{RADIS} table3 --results {input.results} --drift {input.drift} --out {R}/tables/table3 --settings {params.settings} > {log} 2>&1"


rule figure1:
    input:
        translation=translation_cells(METHODS),
        mtbench=model_cells(f"{R}/eval/{{backbone}}/{{method}}/mtbench.json", METHODS),
    output:
        png=report(f"{R}/figures/figure1.png", caption="../report/figure1.rst", category="Figures"),
        points=f"{R}/figures/figure1.json",
    log:
        job_log("figure1"),
    benchmark:
        job_benchmark("figure1")
    conda:
        conda_env("main")
    params:
        settings=as_arg(figure1_settings()),
    shell:
        "{RADIS} figure1 --translation {input.translation} --mtbench {input.mtbench} --out {output.png} "
        "--points {output.points} --settings {params.settings} > {log} 2>&1"


# The paper's claims tested on this run (radis.claims; in `all` when Vanilla-FT and RaDis are trained).
rule claims:
    input:
        translation=translation_cells(METHODS, prior=False),
        drift=drift_cells(METHODS),
    output:
        md=f"{R}/tables/claims.md",
        json=f"{R}/tables/claims.json",
    log:
        job_log("claims"),
    benchmark:
        job_benchmark("claims")
    localrule: True
    conda:
        conda_env("main")
    params:
        settings=as_arg(claims_settings()),
    shell:
        "{RADIS} claims --translation {input.translation} --drift {input.drift} --out {R}/tables/claims "
        "--settings {params.settings} > {log} 2>&1"


rule loss_curves:
    input:
        lambda w: expand(
            f"{R}/models/{w.backbone}/{{method}}/adapter", method=trained_models(w.backbone, METHODS + EXTERNAL)
        ),
    output:
        png=report(f"{R}/figures/loss-{{backbone}}.png", caption="../report/loss_curves.rst", category="Figures"),
        points=f"{R}/figures/loss-{{backbone}}.json",
    log:
        job_log("loss_curves", "{backbone}"),
    benchmark:
        job_benchmark("loss_curves", "{backbone}")
    localrule: True
    conda:
        conda_env("main")
    params:
        methods=lambda w: " ".join(trained_models(w.backbone, METHODS + EXTERNAL)),
    shell:
        "{RADIS} loss-curves --adapters {input} --methods {params.methods} --backbone {wildcards.backbone} "
        "--out {output.png} --points {output.points} > {log} 2>&1"


if EXTERNAL:

    rule table5:
        input:
            translation=translation_cells(prior=False),
            general=general_cells(prior=False),
            drift=drift_cells(METHODS + EXTERNAL),
        output:
            f"{R}/tables/table5.md",
            report(f"{R}/tables/table5.csv", caption="../report/table5.rst", category="Tables"),
            f"{R}/tables/table5.tex",
        log:
            job_log("table5"),
        benchmark:
            job_benchmark("table5")
        localrule: True
        conda:
            conda_env("main")
        params:
            settings=as_arg(table5_settings()),
        shell:
            "{RADIS} table5 --translation {input.translation} --general {input.general} --drift {input.drift} "
            "--out {R}/tables/table5 --settings {params.settings} > {log} 2>&1"


rule reproduction:
    input:
        tables=reproduced_tables(),
        table4=expand(TABLE4_RESULT, backbone=BACKBONES) if "radis" in METHODS else [],
    output:
        f"{R}/tables/reproduction.md",
        report(f"{R}/tables/reproduction.csv", caption="../report/reproduction.rst", category="Tables"),
    log:
        job_log("reproduction"),
    localrule: True
    conda:
        conda_env("main")
    params:
        settings=as_arg(reproduction_settings()),
    shell:
        "{RADIS} reproduction --tables {input.tables} --table4 {input.table4} --out {R}/tables/reproduction "
        "--settings {params.settings} > {log} 2>&1"
