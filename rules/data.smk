rule download:
    input:
        mirror=download_input,
    output:
        "resources/datasets/{dataset}.jsonl",
    log:
        "logs/download/{dataset}.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        dataset=download_params,
    script:
        "../scripts/download.py"
