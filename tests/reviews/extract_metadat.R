# Write the raw tables of the test reviews from R's metadat package, as printed.
#
#   Rscript tests/reviews/extract_metadat.R        (from the repository root)
#
# Run once to create data/raw/*.csv of tests/reviews/{bcg,normand1999,hackshaw1998}; the CSV
# files, not this script, are the reviews' data (the pipeline and the metafor references read
# them). The script is kept so that anyone can check that every number is the data set's own:
# no value is computed here. Columns are copied (some renamed to evsynth's table format, the
# schema of each table names the metadat column), and every row gets its provenance: the
# documentation page of the data set, the DOI of the meta-analysis (and of the trial where
# one was found), the row exactly as print() shows it (runs of spaces collapsed to one), and
# the R and metadat versions.

suppressPackageStartupMessages(library(metadat))
options(width = 250)
out_root <- file.path("tests", "reviews")
if (!dir.exists(out_root)) stop("run from the repository root")

r_version <- sub("^R version ([0-9.]+).*$", "\\1", R.version.string)
metadat_version <- packageDescription("metadat")$Version  # "1.2-0"

# Rows as print() shows them (R's row name first), runs of spaces collapsed to one.
printed_rows <- function(dat) {
  lines <- capture.output(print(dat))
  stopifnot(length(lines) == nrow(dat) + 1)  # header + one line per row: nothing wrapped
  list(header = gsub("\\s+", " ", trimws(lines[1])),
       rows = gsub("\\s+", " ", trimws(lines[-1])))
}

# Plain decimal text of a value (no scientific notation, R's shortest exact representation).
cell <- function(x) {
  if (is.numeric(x)) {
    s <- format(x, scientific = FALSE, trim = TRUE, digits = 15, drop0trailing = TRUE)
    stopifnot(all(as.numeric(s) == x))
    return(s)
  }
  as.character(x)
}

# CSV with minimal quoting (a field is quoted only if it holds a comma, quote or newline).
write_csv_minimal <- function(frame, path) {
  quote_field <- function(s) {
    needs <- grepl("[\",\n]", s)
    s[needs] <- paste0("\"", gsub("\"", "\"\"", s[needs]), "\"")
    s
  }
  body <- vapply(frame, function(col) quote_field(cell(col)), character(nrow(frame)))
  if (nrow(frame) == 1) body <- matrix(body, nrow = 1)
  lines <- c(paste(quote_field(names(frame)), collapse = ","),
             apply(body, 1, paste, collapse = ","))
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  con <- file(path, open = "wb")
  writeLines(lines, con, sep = "\n", useBytes = TRUE)
  close(con)
  cat(sprintf("%s: %d rows\n", path, nrow(frame)))
}

# study_id: letters of the author field (words joined, "et al" and punctuation dropped) + year
study_id_of <- function(author, year) {
  a <- gsub("\\bet al\\b", "", author)
  a <- gsub("[^A-Za-z]", "", a)
  id <- paste0(a, year)
  stopifnot(!anyDuplicated(id))
  id
}

provenance_text <- function(name, i, header, extra) {
  sprintf(paste("metadat %s, row %d, as printed by R %s (metadat %s); columns as printed:",
                "'%s' (the first field is R's row name). %s"),
          name, i, r_version, metadat_version, header, extra)
}

# ---------------------------------------------------------------- BCG (Colditz 1994)
bcg <- dat.bcg
p <- printed_rows(bcg)
colditz <- "doi:10.1001/jama.1994.03510330076038 (Colditz et al. 1994, JAMA 271:698-702; the meta-analysis)"
bcg_pages <- "https://search.r-project.org/CRAN/refmans/metadat/html/dat.bcg.html ; https://rdrr.io/pkg/metadat/man/dat.bcg.html"
# Trial DOIs found on public pages (see tests/reviews/README.md); no other trial DOI was found.
trial_doi <- c(
  "2" = paste("doi:10.1016/S0041-3879(49)80055-9 (Ferguson RG, Simes AB. BCG vaccination of",
              "Indian infants in Saskatchewan. Tubercle 1949;30:5-11; DOI as listed in a",
              "reference list, not read at the publisher)"),
  "4" = paste("doi:10.1136/bmj.2.6082.293 (Hart PD, Sutherland I. BCG and vole bacillus vaccines",
              "in the prevention of tuberculosis in adolescence and early adult life.",
              "Br Med J 1977;2:293)"),
  "12" = paste("doi:10.1164/arrd.1969.100.6.839 (Comstock GW, Webster RG. Tuberculosis studies in",
               "Muscogee County, Georgia. VII. A twenty-year evaluation of BCG vaccination in a",
               "school population. Am Rev Respir Dis 1969;100:839-845; DOI as listed in a",
               "reference list, not read at the publisher)"))
trial_page <- c(
  "2" = "https://ouci.dntb.gov.ua/en/works/98jZ1zx4",
  "4" = paste0("https://erj.ersjournals.com/lookup/ijlink/YTozOntzOjQ6InBhdGgiO3M6MTQ6Ii9sb29rdXAv",
               "aWpsaW5rIjtzOjU6InF1ZXJ5IjthOjQ6e3M6ODoibGlua1R5cGUiO3M6NDoiQUJTVCI7czoxMToiam91",
               "cm5hbENvZGUiO3M6MzoiYm1qIjtzOjU6InJlc2lkIjtzOjEwOiIyLzYwODIvMjkzIjtzOjQ6ImF0b20i",
               "O3M6MTg6Ii9lcmovMzYvNC85MjUuYXRvbSI7fXM6ODoiZnJhZ21lbnQiO3M6MDoiIjt9"),
  "12" = "https://pmc.ncbi.nlm.nih.gov/articles/PMC2395884")
bcg_out <- data.frame(
  study_id = study_id_of(bcg$author, bcg$year),
  trial = bcg$trial,
  author = bcg$author,
  year = bcg$year,
  label = paste(bcg$author, bcg$year),
  events_treat = bcg$tpos,
  nonevents_treat = bcg$tneg,
  events_control = bcg$cpos,
  nonevents_control = bcg$cneg,
  ablat = bcg$ablat,
  alloc = bcg$alloc,
  stringsAsFactors = FALSE)
key <- as.character(bcg$trial)
bcg_out$source_url <- ifelse(key %in% names(trial_page),
                             paste(bcg_pages, trial_page[key], sep = " ; "), bcg_pages)
bcg_out$doi_or_pmid <- ifelse(key %in% names(trial_doi),
                              paste(colditz, trial_doi[key], sep = "; trial: "), colditz)
bcg_out$quote <- p$rows
bcg_out$provenance <- vapply(seq_len(nrow(bcg)), function(i) provenance_text("dat.bcg", i,
  p$header, paste("SECONDARY: metadat's copy of the 2x2 table of Colditz et al. 1994, not read",
                  "in the JAMA paper or the trial report. Renamed: tpos -> events_treat, tneg ->",
                  "nonevents_treat, cpos -> events_control, cneg -> nonevents_control; label is",
                  "author and year joined by a space. n_treat and n_control are not stored: the",
                  "review's config derives them as tpos + tneg and cpos + cneg (the only",
                  "arithmetic on these data).")), character(1))
write_csv_minimal(bcg_out, file.path(out_root, "bcg", "data", "raw", "trials.csv"))

# ---------------------------------------------------------------- Normand 1999
nor <- dat.normand1999
p <- printed_rows(nor)
normand <- "doi:10.1002/(sici)1097-0258(19990215)18:3<321::aid-sim28>3.0.co;2-p (Normand 1999, Stat Med 18:321-359; the meta-analysis)"
nor_pages <- "https://search.r-project.org/CRAN/refmans/metadat/html/dat.normand1999.html ; https://rdrr.io/cran/metadat/man/dat.normand1999.html"
nor_out <- data.frame(
  study_id = gsub("[^A-Za-z]", "", nor$source),
  study = nor$study,
  source = nor$source,
  n_treat = nor$n1i,
  mean_treat = nor$m1i,
  sd_treat = nor$sd1i,
  n_control = nor$n2i,
  mean_control = nor$m2i,
  sd_control = nor$sd2i,
  source_url = nor_pages,
  doi_or_pmid = normand,
  quote = p$rows,
  stringsAsFactors = FALSE)
stopifnot(!anyDuplicated(nor_out$study_id))
nor_out$provenance <- vapply(seq_len(nrow(nor)), function(i) provenance_text("dat.normand1999",
  i, p$header, paste("SECONDARY: metadat's copy of the data of Normand 1999, not read in the",
                     "paper or the trial report. Group 1 (specialized stroke unit care) is the",
                     "treatment arm, group 2 (routine care) the control arm. Renamed: n1i ->",
                     "n_treat, m1i -> mean_treat, sd1i -> sd_treat, n2i -> n_control, m2i ->",
                     "mean_control, sd2i -> sd_control. Length of stay in days.")), character(1))
write_csv_minimal(nor_out, file.path(out_root, "normand1999", "data", "raw", "trials.csv"))

# ---------------------------------------------------------------- Hackshaw 1998
hack <- dat.hackshaw1998
p <- printed_rows(hack)
hackshaw <- paste("doi:10.1136/bmj.315.7114.980 (Hackshaw, Law & Wald 1997, BMJ 315:980-988);",
                  "doi:10.1177/096228029800700203 (Hackshaw 1998, Stat Methods Med Res 7:119-136)")
hack_pages <- "https://search.r-project.org/CRAN/refmans/metadat/html/dat.hackshaw1998.html ; https://rdrr.io/cran/metadat/man/dat.hackshaw1998.html"
hack_out <- data.frame(
  study_id = study_id_of(hack$author, hack$year),
  study = hack$study,
  author = hack$author,
  year = hack$year,
  country = hack$country,
  design = hack$design,
  cases = hack$cases,
  effect_measure = "OR",
  effect = hack$or,
  ci_low = hack$or.lb,
  ci_high = hack$or.ub,
  source_url = hack_pages,
  doi_or_pmid = hackshaw,
  quote = p$rows,
  stringsAsFactors = FALSE)
hack_out$provenance <- vapply(seq_len(nrow(hack)), function(i) provenance_text(
  "dat.hackshaw1998", i, p$header,
  paste("SECONDARY: metadat's copy of the study results of Hackshaw et al. 1997 / Hackshaw",
        "1998, not read in the papers. Renamed: or -> effect, or.lb -> ci_low, or.ub -> ci_high",
        "(odds ratio and its 95% CI; effect_measure OR as the metadat documentation says).",
        "metadat's yi and vi are not copied: they are back-calculated from or, or.lb and or.ub",
        "(metadat documentation), as evsynth does from the CI.")), character(1))
write_csv_minimal(hack_out, file.path(out_root, "hackshaw1998", "data", "raw", "studies.csv"))
