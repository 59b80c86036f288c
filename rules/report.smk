rule plot:
    input:
        "results/tables/cells.csv",
    output:
        report(
            "results/plots/score_by_model.png",
            caption="../report/score_by_model.rst",
            category="Quality",
            labels={"figure": "score by model and paradigm"},
        ),
    log:
        "logs/plot.log",
    conda:
        "../envs/slmbench.yaml"
    script:
        "../scripts/plot.py"
