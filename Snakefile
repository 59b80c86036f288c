from snakemake.utils import min_version

from slmbench.engines.slurm_step import preflight as slurm_preflight
from slmbench.quick_exit import release_scheduler_timer, skip_exit_collection

min_version("9.0")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/weights.smk"
include: "rules/generate.smk"
include: "rules/score.smk"
include: "rules/results.smk"


report: "report/workflow.rst"


# On a SLURM cluster: stop before the first sbatch if SLURM could never run a job (README,
# "Run on a SLURM GPU cluster"); nothing elsewhere. Then say which online search tools this
# machine cannot reach and replaces by the local corpus (rules/common.smk).
onstart:
    slurm_preflight(workflow)
    announce_offline_tools()


localrules:
    all,
    download,
    weights,
    score,
    results,
    search_index,


onsuccess:
    release_scheduler_timer()
    print_outcomes(rules.results.output.cells_csv)
    skip_exit_collection()


onerror:
    release_scheduler_timer()
    skip_exit_collection()


rule all:
    default_target: True
    input:
        rules.results.output,
        # The trace pages come with the score jobs (rules/score.smk) that results needs.
