# Stage 1: check each raw table (and the tables it joins) against its schema; write the
# harmonised table with its joined and derived columns.


rule validate:
    input:
        unpack(table_inputs),
        config=CONFIG_FILE,
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
        script=f"{SCRIPTS}/validate.py",
        derived=config_digest(CONFIG["derived"]),
    shell:
        "{params.python} {params.script} --config {input.config} "
        "--table {wildcards.table} --log {log}"
