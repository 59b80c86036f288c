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
        # What scoring reads: the cell's bootstrap interval (n_permutations is analyze's);
        # and the cell's slice, so that a score outlives no change of the generation it scores
        # (Snakemake records a failed job's params, and would keep the old score of a cell
        # whose new generation failed).
        n_boot=config["analysis"]["n_boot"],
        seed=config["analysis"]["seed"],
        cell=generation_params,
    script:
        "../scripts/score.py"
