rule score:
    input:
        generations="results/generations/{model}/{paradigm}/{dataset}.jsonl",
        dataset="resources/datasets/{dataset}.jsonl",
        meta="results/generations/{model}/{paradigm}/{dataset}.meta.json",
    output:
        summary="results/scores/{model}/{paradigm}/{dataset}.json",
        samples="results/scores/{model}/{paradigm}/{dataset}.samples.jsonl",
    log:
        "logs/score/{model}/{paradigm}/{dataset}.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        analysis=config["analysis"],
    script:
        "../scripts/score.py"


rule aggregate:
    input:
        summaries=score_inputs("json"),
        samples=score_inputs("samples.jsonl"),
    output:
        csv="results/tables/cells.csv",
        parquet="results/tables/cells.parquet",
        samples="results/tables/samples.parquet",
        html=report(
            "results/tables/cells.html",
            caption="../report/cells.rst",
            category="Summary",
            labels={"table": "per cell"},
        ),
    log:
        "logs/aggregate.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        labels=model_labels(config),
    script:
        "../scripts/aggregate.py"


rule analyze:
    input:
        cells="results/tables/cells.parquet",
        samples=score_inputs("samples.jsonl"),
        datasets=expand(
            "resources/datasets/{dataset}.jsonl", dataset=config["datasets"]
        ),
    output:
        **{
            f"{name}_{ext}": f"results/tables/{name}.{ext}"
            for name in ANALYSIS_TABLES
            for ext in ("csv", "parquet")
        },
        summary="results/summary.json",
        paradigms_html=report(
            "results/tables/paradigms.html",
            caption="../report/paradigms.rst",
            category="Summary",
            labels={"table": "Table 2: paradigms"},
        ),
        nrq_html=report(
            "results/tables/nrq.html",
            caption="../report/nrq.rst",
            category="Quality",
            labels={"table": "NRQ"},
        ),
        composite_z_html=report(
            "results/tables/composite_z.html",
            caption="../report/composite_z.rst",
            category="Quality",
            labels={"table": "composite z"},
        ),
        leading_advantage_html=report(
            "results/tables/leading_advantage.html",
            caption="../report/leading_advantage.rst",
            category="Quality",
            labels={"table": "leading advantage"},
        ),
        comparisons_html=report(
            "results/tables/comparisons.html",
            caption="../report/comparisons.rst",
            category="Quality",
            labels={"table": "paired comparisons"},
        ),
        pareto_html=report(
            "results/tables/pareto.html",
            caption="../report/pareto_table.rst",
            category="Cost",
            labels={"table": "Pareto frontier"},
        ),
        costs_html=report(
            "results/tables/costs.html",
            caption="../report/costs.rst",
            category="Cost",
            labels={"table": "cost per cell"},
        ),
        failures_html=report(
            "results/tables/failures.html",
            caption="../report/failures_table.rst",
            category="Failures",
            labels={"table": "failures per model and paradigm"},
        ),
        constrained_html=report(
            "results/tables/constrained.html",
            caption="../report/constrained.rst",
            category="Failures",
            labels={"table": "with and without a grammar"},
        ),
    log:
        "logs/analyze.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        settings=run_design(config),
        options=config["analysis"],
    script:
        "../scripts/analyze.py"
