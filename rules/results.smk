# Every table and figure of the report from the scores (slmbench/results/catalog.py), in one local
# job: one Python start with pandas and matplotlib per run instead of three (bench/README.md).
rule results:
    input:
        summaries=score_inputs("json"),
        samples=score_inputs("samples.jsonl"),
        datasets=expand(
            "resources/datasets/{dataset}.jsonl", dataset=config["datasets"]
        ),
        captions=[
            str(catalog.caption_path(item.caption))
            for item in (catalog.CELLS, catalog.METHOD, *catalog.TABLES)
        ],
    output:
        **table_outputs(),
        **figure_outputs(),
        cells_csv="results/tables/cells.csv",
        cells_parquet="results/tables/cells.parquet",
        cells_html=reported("results/tables/cells.html", catalog.CELLS),
        samples="results/tables/samples.parquet",
        summary="results/summary.json",
        front="results/front.html",
        method=reported("results/method.html", catalog.METHOD),
    log:
        "logs/results.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        labels=model_labels(config),
        design=run_design(config),
        options=canonical(config["analysis"]),
    script:
        "../scripts/results.py"
