rule generate:
    input:
        dataset="resources/datasets/{dataset}.jsonl",
    output:
        "results/generations/{model}/{paradigm}/{dataset}.jsonl",
    log:
        "logs/generate/{model}/{paradigm}/{dataset}.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        cell=generation_params,
    script:
        "../scripts/generate.py"
