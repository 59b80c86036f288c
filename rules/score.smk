# One job scores every dataset of a model x paradigm (and writes their trace pages): one process
# instead of 2 x 20 (bench/README.md, "The paper grid's post-processing"). A rerun still rescores only
# the model x paradigm whose generations or scoring settings changed.
rule score:
    input:
        generations=cell_files("results/generations", "jsonl"),
        meta=cell_files("results/generations", "meta.json"),
        datasets=expand(
            "resources/datasets/{dataset}.jsonl", dataset=config["datasets"]
        ),
        caption=str(catalog.caption_path(catalog.TRACES.caption)),
    output:
        summaries=cell_files("results/scores", "json"),
        samples=cell_files("results/scores", "samples.jsonl"),
        traces=trace_page_outputs(),
    log:
        "logs/score/{model}/{paradigm}.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        # What scoring reads: the cells' bootstrap intervals (n_permutations is the results job's);
        # and each cell's slice, so that a score outlives no change of the generation it scores
        # (Snakemake records a failed job's params, and would keep the old score of a cell
        # whose new generation failed).
        n_boot=config["analysis"]["n_boot"],
        seed=config["analysis"]["seed"],
        cells=score_params,
    script:
        "../scripts/score.py"
