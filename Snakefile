from snakemake.utils import min_version

min_version("9.0")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/traces.smk"


report: "report/workflow.rst"


localrules:
    all,
    download,
    score,
    aggregate,
    analyze,
    plot,
    trace_page,
    search_index,


onsuccess:
    print_outcomes(rules.aggregate.output.csv)


rule all:
    default_target: True
    input:
        rules.aggregate.output,
        rules.analyze.output,
        rules.plot.output,
        trace_pages(),
