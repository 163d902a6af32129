# Regenerate tests/reference/grade_ois.json: the per-group sample sizes that R's stats package
# gives for the optimal information size (OIS) cases used by tests/test_grade.py.
#
#   Rscript tests/reference/make_grade_ois.R        (from the repository root)
#
# Binary outcomes: power.prop.test (two-sided, strict = FALSE), control risk p1 and the
# intervention risk p2 = p1 * (1 - RRR). Continuous outcomes: power.t.test (two-sample,
# two-sided, strict = FALSE). Both solve for n by uniroot; tol = 1e-12 puts the root far
# below the 1e-6 comparison tolerance. Doubles are written with 17 significant digits.

suppressPackageStartupMessages(library(jsonlite))
out_dir <- file.path("tests", "reference")
if (!dir.exists(out_dir)) stop("run from the repository root")

num <- function(x) sprintf("%.17g", x)

binary <- list(
  list(control_risk = 0.20, rrr = 0.25, alpha = 0.05, power = 0.80),
  list(control_risk = 0.04, rrr = 0.25, alpha = 0.05, power = 0.80),
  list(control_risk = 0.06, rrr = 0.20, alpha = 0.05, power = 0.90),
  list(control_risk = 0.011, rrr = 0.30, alpha = 0.01, power = 0.80),
  list(control_risk = 0.50, rrr = 0.10, alpha = 0.05, power = 0.80)
)
binary_out <- lapply(binary, function(case) {
  p1 <- case$control_risk
  p2 <- p1 * (1 - case$rrr)
  fit <- power.prop.test(p1 = p1, p2 = p2, sig.level = case$alpha, power = case$power,
                         alternative = "two.sided", strict = FALSE, tol = 1e-12)
  sprintf('{"control_risk": %s, "rrr": %s, "alpha": %s, "power": %s, "n_per_group": %s}',
          num(p1), num(case$rrr), num(case$alpha), num(case$power), num(fit$n))
})

continuous <- list(
  list(difference = 0.5, sd = 1.0, alpha = 0.05, power = 0.80),
  list(difference = 0.2, sd = 1.0, alpha = 0.05, power = 0.80),
  list(difference = 10, sd = 25, alpha = 0.05, power = 0.90),
  list(difference = 3, sd = 4, alpha = 0.01, power = 0.80)
)
continuous_out <- lapply(continuous, function(case) {
  fit <- power.t.test(delta = case$difference, sd = case$sd, sig.level = case$alpha,
                      power = case$power, type = "two.sample", alternative = "two.sided",
                      strict = FALSE, tol = 1e-12)
  sprintf('{"difference": %s, "sd": %s, "alpha": %s, "power": %s, "n_per_group": %s}',
          num(case$difference), num(case$sd), num(case$alpha), num(case$power), num(fit$n))
})

json <- paste0(
  '{\n  "meta": {"r_version": "', R.version.string,
  '", "generated_by": "tests/reference/make_grade_ois.R"},\n',
  '  "binary": [\n    ', paste(binary_out, collapse = ",\n    "), "\n  ],\n",
  '  "continuous": [\n    ', paste(continuous_out, collapse = ",\n    "), "\n  ]\n}\n"
)
writeLines(json, file.path(out_dir, "grade_ois.json"), sep = "")
invisible(fromJSON(file.path(out_dir, "grade_ois.json")))  # fail here if the JSON is malformed
