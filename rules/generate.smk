rule generate:
    input:
        dataset="resources/datasets/{dataset}.jsonl",
        index=search_index_input,
        weights=weights_input,
    output:
        "results/generations/{model}/{paradigm}/{dataset}.jsonl",
        meta="results/generations/{model}/{paradigm}/{dataset}.meta.json",
    log:
        "logs/generate/{model}/{paradigm}/{dataset}.log",
    conda:
        generation_conda()
    params:
        cell=generation_params,
    script:
        "../scripts/generate.py"


rule search_index:
    input:
        search_corpus(config),
    output:
        directory("resources/search_index"),
    log:
        "logs/search_index.log",
    conda:
        "../envs/slmbench.yaml"
    script:
        "../scripts/search_index.py"
