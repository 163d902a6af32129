# Snakemake's own report (`snakemake --report results/archive.zip`, or `make archive`): the
# evidence summary, and every figure and table of each analysis with its caption, in one
# category per analysis (evsynth.stages.gallery). The gallery folders hold hard links to the
# published figures and the per-analysis tables; they are rebuilt whole from the results.
from evsynth.stages.gallery import Captions

GALLERY_TITLES = {
    **{name: spec.get("title") or name for name, spec in CONFIG["markers"].items()},
    **{name: spec.get("title") or name for name, spec in CONFIG["analyses"].items()},
}


def gallery_category(wildcards):
    """The category of a gallery file: its analysis's title (braces would read as
    wildcards)."""
    title = GALLERY_TITLES.get(wildcards.analysis, wildcards.analysis)
    return title.replace("{", "(").replace("}", ")")


def gallery_labels(wildcards):
    """The columns of the report's table of gallery files: analysis and file."""
    return {"analysis": gallery_category(wildcards), "file": wildcards.file}


rule gallery:
    input:
        json=f"{RESULTS}/analyses/{{dataset}}.json",
        summary=f"{RESULTS}/analyses/{{dataset}}_summary.csv",
        manifest=f"{RESULTS}/figures/{{dataset}}.figures.json",
    output:
        report(
            directory(f"{RESULTS}/gallery/{{dataset}}"),
            patterns=[
                "{analysis,[^/]+}/{file,[^/]+[.]svg}",
                "{analysis,[^/]+}/{file,[^/]+[.]png}",
                "{analysis,[^/]+}/{file,[^/]+[.]csv}",
            ],
            caption="../report/gallery.rst",
            category=gallery_category,
            labels=gallery_labels,
        ),
    log:
        f"{RESULTS}/logs/gallery_{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        "../../environment.yml"
    params:
        python=PYTHON,
        scripts=SCRIPTS,
        captions=lambda wildcards, output: Captions(output[0]),
    shell:
        "{params.python} {params.scripts}/gallery.py --results {input.json} "
        "--summary {input.summary} --manifest {input.manifest} --outdir {output} --log {log}"
