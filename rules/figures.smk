rule plot:
    input:
        **catalog.figure_inputs(),
    output:
        **figure_outputs(),
    log:
        "logs/plot.log",
    conda:
        "../envs/slmbench.yaml"
    script:
        "../scripts/plot.py"
