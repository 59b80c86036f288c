rule trace_page:
    input:
        "results/generations/{model}/{paradigm}/{dataset}.jsonl",
    output:
        report(
            "results/traces/{model}/{paradigm}/{dataset}.html",
            caption="../report/trace.rst",
            category="Traces",
            subcategory="{model}",
            labels={
                "model": "{model}",
                "paradigm": "{paradigm}",
                "dataset": "{dataset}",
            },
        ),
    log:
        "logs/trace_page/{model}/{paradigm}/{dataset}.log",
    conda:
        "../envs/slmbench.yaml"
    script:
        "../scripts/trace_page.py"
