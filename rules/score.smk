rule score:
    input:
        generations="results/generations/{model}/{paradigm}/{dataset}.jsonl",
        dataset="resources/datasets/{dataset}.jsonl",
        meta="results/generations/{model}/{paradigm}/{dataset}.meta.json",
    output:
        summary="results/scores/{model}/{paradigm}/{dataset}.json",
        samples="results/scores/{model}/{paradigm}/{dataset}.samples.jsonl",
    log:
        "logs/score/{model}/{paradigm}/{dataset}.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        # Only what scoring reads: the cell's bootstrap interval (n_permutations is analyze's).
        n_boot=config["analysis"]["n_boot"],
        seed=config["analysis"]["seed"],
    script:
        "../scripts/score.py"
