rule trace_page:
    input:
        generations="results/generations/{model}/{paradigm}/{dataset}.jsonl",
        scored="results/scores/{model}/{paradigm}/{dataset}.samples.jsonl",
        caption=str(catalog.caption_path(catalog.TRACES.caption)),
    output:
        report(
            "results/traces/{model}/{paradigm}/{dataset}.html",
            caption=caption(catalog.TRACES),
            category=catalog.TRACES.category,
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
