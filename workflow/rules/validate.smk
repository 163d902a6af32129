# Stage 1: check each raw table against its schema; write the harmonised table.


rule validate_studies:
    input:
        table=f"{RAW}/studies.csv",
        schema=schema("studies"),
        library=ENGINE,
    output:
        f"{PROCESSED}/studies.csv",
    log:
        f"{RESULTS}/logs/validate_studies.log",
    conda:
        "../../environment.yml"
    params:
        python=PYTHON,
        raw=lambda wildcards, input: parent(input.table),
        schemas=lambda wildcards, input: parent(input.schema),
        outdir=lambda wildcards, output: parent(output[0]),
    shell:
        "{params.python} scripts/validate.py --raw-dir {params.raw} --out-dir {params.outdir} "
        "--table studies --schema-dir {params.schemas} --log {log}"


rule validate_table:
    input:
        table=f"{RAW}/{{table}}.csv",
        studies=f"{RAW}/studies.csv",
        schema=schema("{table}"),
        library=ENGINE,
    output:
        f"{PROCESSED}/{{table}}.csv",
    log:
        f"{RESULTS}/logs/validate_{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        "../../environment.yml"
    params:
        python=PYTHON,
        raw=lambda wildcards, input: parent(input.table),
        schemas=lambda wildcards, input: parent(input.schema),
        outdir=lambda wildcards, output: parent(output[0]),
    shell:
        "{params.python} scripts/validate.py --raw-dir {params.raw} --out-dir {params.outdir} "
        "--table {wildcards.table} --schema-dir {params.schemas} --log {log}"
