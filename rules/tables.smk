rule aggregate:
    input:
        summaries=score_inputs("json"),
        samples=score_inputs("samples.jsonl"),
        caption=str(catalog.caption_path(catalog.CELLS.caption)),
    output:
        csv="results/tables/cells.csv",
        parquet="results/tables/cells.parquet",
        samples="results/tables/samples.parquet",
        html=reported("results/tables/cells.html", catalog.CELLS, "table"),
    log:
        "logs/aggregate.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        labels=model_labels(config),
        design=run_design(config),
    script:
        "../scripts/aggregate.py"


rule analyze:
    input:
        cells="results/tables/cells.parquet",
        samples=score_inputs("samples.jsonl"),
        datasets=expand(
            "resources/datasets/{dataset}.jsonl", dataset=config["datasets"]
        ),
        captions=[str(catalog.caption_path(t.caption)) for t in catalog.TABLES],
    output:
        **table_outputs(),
        summary="results/summary.json",
    log:
        "logs/analyze.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        design=run_design(config),
        options=canonical(config["analysis"]),
    script:
        "../scripts/analyze.py"
