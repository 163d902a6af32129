# Stage 1: check each raw table (and the tables it joins) against its schema; write the
# harmonised table with its joined and derived columns. The config is not an input: only
# what validation reads of it (tables, paths, derived columns) is, as a digest, so that an
# edit to an analysis does not validate every table again.


rule validate:
    input:
        unpack(table_inputs),
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
        config=CONFIG_FILE,
        reads=config_digest({k: CONFIG[k] for k in ("tables", "paths", "derived")}),
    shell:
        "{params.python} {params.script} --config {params.config} "
        "--table {wildcards.table} --log {log}"
