rule plot:
    input:
        cells="results/tables/cells.parquet",
        pareto="results/tables/pareto.parquet",
        nrq="results/tables/nrq.parquet",
        leading="results/tables/leading_advantage.parquet",
    output:
        score_by_model=report(
            "results/plots/score_by_model.png",
            caption="../report/score_by_model.rst",
            category="Quality",
            labels={"figure": "score by model and paradigm"},
        ),
        quality_vs_cost=report(
            "results/plots/quality_vs_cost.png",
            caption="../report/quality_vs_cost.rst",
            category="Summary",
            labels={"figure": "quality against energy or latency"},
        ),
        best_paradigm=report(
            "results/plots/best_paradigm.png",
            caption="../report/best_paradigm.rst",
            category="Quality",
            labels={"figure": "best paradigm per category and model"},
        ),
        failures=report(
            "results/plots/failures.png",
            caption="../report/failures.rst",
            category="Failures",
            labels={"figure": "failure kinds per paradigm"},
        ),
        pareto=report(
            "results/plots/pareto.png",
            caption="../report/pareto.rst",
            category="Cost",
            labels={"figure": "Pareto frontier"},
        ),
        nrq_vs_size=report(
            "results/plots/nrq_vs_size.png",
            caption="../report/nrq_vs_size.rst",
            category="Quality",
            labels={"figure": "NRQ against model size"},
        ),
    log:
        "logs/plot.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        sizes={name: labels["size_b"] for name, labels in model_labels(config).items()},
    script:
        "../scripts/plot.py"
