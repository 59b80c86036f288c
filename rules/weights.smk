rule weights:
    output:
        record_path(config["models_dir"], "{model}"),
    log:
        "logs/weights/{model}.log",
    conda:
        "../envs/slmbench.yaml"
    params:
        weights=weights_params,
    script:
        "../scripts/weights.py"
