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
    shell:
        "{PYTHON} scripts/validate.py --raw-dir {RAW} --out-dir {PROCESSED} "
        "--table studies --schema-dir {SCHEMAS} --log {log}"


rule validate_table:
    input:
        table=f"{RAW}/{{table}}.csv",
        studies=f"{RAW}/studies.csv",
        schema=schema("{table}"),
        library=ENGINE,
    output:
        f"{PROCESSED}/{{table}}.csv",
    wildcard_constraints:
        table="|".join(TABLES),
    log:
        f"{RESULTS}/logs/validate_{{table}}.log",
    shell:
        "{PYTHON} scripts/validate.py --raw-dir {RAW} --out-dir {PROCESSED} "
        "--table {wildcards.table} --schema-dir {SCHEMAS} --log {log}"
