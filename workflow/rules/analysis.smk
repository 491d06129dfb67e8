# Analysis (paper §5): Table 4, the content of the self-generated rationales, and Figure 4, the
# per-layer similarity of the MT-loss and regulariser gradients. One of each per backbone.


rule table4:
    input:
        synth=expand(f"{R}/synth/{{{{backbone}}}}/rationale/{{direction}}.jsonl", direction=DIRECTIONS),
        prompt=REPO / f"workflow/resources/prompts/{RATIONALE_PROMPT}.txt",
        judge_model=lambda w: [f"{R}/backbones/{j['serve']}"] if "serve" in (j := analysis_judge()[1]) else [],
    output:
        result=TABLE4_RESULT,
        md=f"{R}/tables/table4-{{backbone}}.md",
        csv=report(f"{R}/tables/table4-{{backbone}}.csv", caption="../report/table4.rst", category="Tables"),
        tex=f"{R}/tables/table4-{{backbone}}.tex",
    log:
        job_log("table4", "{backbone}"),
    benchmark:
        job_benchmark("table4", "{backbone}")
    conda:
        conda_env(TABLE4_ENV)
    threads: config["threads"]
    params:
        settings=as_arg(table4_settings()),
        directions=" ".join(DIRECTIONS),
        judge_model=lambda w: " ".join(
            f"{j['serve']}={R}/backbones/{j['serve']}" for j in [analysis_judge()[1]] if "serve" in j
        ),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS_TABLE4} table4 --synth-dir {R}/synth/{wildcards.backbone}/rationale "
        "--directions {params.directions} --prompt {input.prompt} --cache-dir {R}/judge-cache "
        "--judge-model {params.judge_model} --out {output.result} --table {R}/tables/table4-{wildcards.backbone} "
        "--settings {params.settings} > {log} 2>&1"


rule figure4:
    input:
        model=f"{R}/backbones/{{backbone}}",
        rationale=expand(f"{R}/synth/{{{{backbone}}}}/rationale/{{direction}}.jsonl", direction=DIRECTIONS),
        seqkd=expand(f"{R}/synth/{{{{backbone}}}}/seqkd/{{direction}}.jsonl", direction=DIRECTIONS),
    output:
        png=report(f"{R}/figures/figure4-{{backbone}}.png", caption="../report/figure4.rst", category="Figures"),
        result=f"{R}/analysis/{{backbone}}/gradient_similarity.json",
    log:
        job_log("figure4", "{backbone}"),
    benchmark:
        job_benchmark("figure4", "{backbone}")
    conda:
        conda_env("main")
    threads: config["threads"]
    resources:
        hardware=lambda w: hardware_arg(figure4_settings(w)),
        gpu=gpu_count(lambda w: 1),
        gpu_model=gpu_type(lambda w: 1),
    params:
        settings=lambda w: settings_arg(figure4_settings(w)),
        directions=" ".join(DIRECTIONS),
    shell:
        "OMP_NUM_THREADS={threads} {RADIS} figure4 --model {input.model} "
        "--rationale-dir {R}/synth/{wildcards.backbone}/rationale --seqkd-dir {R}/synth/{wildcards.backbone}/seqkd "
        "--directions {params.directions} --out {output.png} --result {output.result} "
        "--settings {params.settings} --hardware {resources.hardware} > {log} 2>&1"
