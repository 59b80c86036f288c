rule score:
    input:
        generations="results/generations/{model}/{paradigm}/{dataset}.jsonl",
        dataset="resources/datasets/{dataset}.jsonl",
    output:
        summary="results/scores/{model}/{paradigm}/{dataset}.json",
        samples="results/scores/{model}/{paradigm}/{dataset}.samples.jsonl",
    log:
        "logs/score/{model}/{paradigm}/{dataset}.log",
    conda:
        "../envs/slmbench.yaml"
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
    script:
        "../scripts/aggregate.py"
