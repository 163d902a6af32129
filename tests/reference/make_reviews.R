# metafor reference values for the test reviews in tests/reviews/ (tests/reference/reviews.json,
# read by tests/test_reviews_reference.py and by the pipeline's end-to-end tests).
#
#   Rscript tests/reference/make_reviews.R        (from the repository root)
#
# Needs R with metafor (written against 3.8.1), jsonlite and yaml (Debian: r-cran-metafor,
# r-cran-jsonlite, r-cran-yaml). Deterministic: two runs give byte-identical files.
#
# The inputs are the review folders themselves, not metadat: each review's config/config.yaml
# (defaults merged into every analysis) and its raw CSV, so the fixtures are computed on
# exactly the numbers the pipeline reads. Every configured analysis is fitted as metafor
# would: escalc with the analysis's measure and escalc's defaults (add = 1/2, to = "only0",
# drop00 = FALSE; SMD = Hedges' g, vtype = "LS"); generic rows (effect with its 95% CI) as
# yi = log(effect), sei = (log(ci_high) - log(ci_low)) / (2 qnorm(0.975)) (ratio measures),
# the back-calculation metadat documents; rma.uni with the analysis's method and test
# (ci_method z -> "z", hksj -> "knha", hksj_modified -> "adhoc"); model fixed + IV ->
# rma(method = "EE"); fixed + MH -> rma.mh. Doubles are written as "%.17g"; NA/NaN as null.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
  library(yaml)
})

out_file <- file.path("tests", "reference", "reviews.json")
reviews_dir <- file.path("tests", "reviews")
if (!dir.exists(reviews_dir)) stop("run from the repository root")
reviews <- c("bcg", "normand1999", "hackshaw1998")

# Converge far below the 1e-6 comparison tolerance. threshold: Fisher scoring (REML/ML);
# tol: uniroot (PM). confint's Q-profile uses uniroot with ci_ctrl.
ctrl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-13)
ci_ctrl <- list(tol = 1e-12, maxiter = 10000)
test_of <- c(z = "z", hksj = "knha", hksj_modified = "adhoc")

meta <- list(
  r_version = R.version.string,
  metafor_version = packageDescription("metafor")$Version,
  jsonlite_version = packageDescription("jsonlite")$Version,
  yaml_version = packageDescription("yaml")$Version,
  generated_by = "tests/reference/make_reviews.R",
  control = list(rma = ctrl, confint = ci_ctrl),
  egger = paste("regtest(rma(yi, vi, method = 'REML', test = 'z')): metafor's defaults",
                "(model = 'rma', predictor = 'sei'), whatever the analysis's model"),
  subgroup_test = paste("separate tau2 per subgroup (RevMan): rma(yi = b_g, sei = se_g,",
                        "method = 'FE') of the subgroup estimates, Q = QE on G - 1 df"))

# ---------------------------------------------------------------- JSON writing
# jsonlite prints at most 15 significant digits: write doubles as "%.17g" (round-trip exact).
full_precision <- function(x) {
  if (is.list(x)) return(lapply(x, full_precision))
  if (!is.double(x)) return(x)
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  if (length(s) == 1) structure(s, class = "json")
  else structure(paste0("[", paste(s, collapse = ", "), "]"), class = "json")
}
num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)

# ---------------------------------------------------------------- config
# The analysis settings: the config's defaults, overridden by the analysis's own keys.
analysis_specs <- function(config) {
  defaults <- modifyList(list(model = "random", method = "REML", fixed_method = "IV",
                              ci_method = "z", level = 0.95), config$defaults %||% list())
  lapply(names(config$analyses), function(id) {
    spec <- modifyList(defaults, config$analyses[[id]])
    spec$id <- id
    spec
  })
}
`%||%` <- function(a, b) if (is.null(a)) b else a

# Derived columns: only the vocabulary these reviews use (sum of columns).
derive <- function(dat, derived) {
  for (name in names(derived)) {
    rule <- derived[[name]]
    if (!identical(names(rule), "sum")) stop("derived '", name, "': only 'sum' is implemented")
    dat[[name]] <- Reduce(`+`, dat[unlist(rule$sum)])
  }
  dat
}

# ---------------------------------------------------------------- effect sizes
# yi/vi as metafor computes them for the analysis, and which input the rows are.
effects <- function(dat, measure) {
  if (measure %in% c("MD", "SMD")) {
    es <- escalc(measure, m1i = dat$mean_treat, sd1i = dat$sd_treat, n1i = dat$n_treat,
                 m2i = dat$mean_control, sd2i = dat$sd_control, n2i = dat$n_control)
    return(list(input = "continuous", yi = as.numeric(es$yi), vi = as.numeric(es$vi)))
  }
  if (all(c("events_treat", "n_treat", "events_control", "n_control") %in% names(dat))) {
    es <- escalc(measure, ai = dat$events_treat, n1i = dat$n_treat, ci = dat$events_control,
                 n2i = dat$n_control)
    return(list(input = "binary", yi = as.numeric(es$yi), vi = as.numeric(es$vi)))
  }
  if (!all(dat$effect_measure == measure)) stop("generic rows of another measure")
  if (!measure %in% c("RR", "OR", "HR", "IRR")) stop("generic differences not needed here")
  sei <- (log(dat$ci_high) - log(dat$ci_low)) / (2 * qnorm(0.975))  # published 95% CIs
  list(input = "generic", yi = log(dat$effect), vi = sei^2)
}

# ---------------------------------------------------------------- fits
fit_uni <- function(yi, vi, spec, mods = NULL) {
  method <- if (spec$model == "fixed") "EE" else spec$method
  test <- unname(test_of[spec$ci_method])
  if (is.null(mods)) rma(yi, vi, method = method, test = test, level = 100 * spec$level,
                         control = ctrl)
  else rma(yi, vi, mods = mods, method = method, test = test, level = 100 * spec$level,
           control = ctrl)
}
fit_mh <- function(dat, spec) {
  rma.mh(ai = dat$events_treat, n1i = dat$n_treat, ci = dat$events_control,
         n2i = dat$n_control, measure = spec$measure, level = 100 * spec$level)
}
fit <- function(dat, es, spec) {
  if (spec$model == "fixed" && spec$fixed_method == "MH") fit_mh(dat, spec)
  else fit_uni(es$yi, es$vi, spec)
}

pooled_fields <- function(res) {
  out <- list(estimate = num(res$b[1]), se = num(res$se), ci_low = num(res$ci.lb),
              ci_high = num(res$ci.ub), statistic = num(res$zval), p_value = num(res$pval),
              tau2 = num(res$tau2), tau = sqrt(num(res$tau2)), i2 = num(res$I2),
              h2 = num(res$H2), q = num(res$QE), q_pvalue = num(res$QEp), k = res$k)
  if (inherits(res, "rma.mh")) {
    out$q_df <- res$k.yi - 1           # Q from the studies with a finite escalc yi
    out$tau2 <- out$tau <- NULL
    return(out)
  }
  pr <- predict(res)
  out$df <- if (res$test == "z") NA_real_ else num(res$dfs)
  out$q_df <- res$k - 1
  out$pi_low <- num(if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb)
  out$pi_high <- num(if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub)
  out
}

# Per-subgroup pools (same model) and the RevMan test for subgroup differences.
subgroup_fields <- function(column, groups, es, spec) {
  labels <- sort(unique(as.character(groups)))
  rows <- lapply(labels, function(g) {
    s <- as.character(groups) == g
    c(list(group = g), pooled_fields(fit_uni(es$yi[s], es$vi[s], spec)))
  })
  b <- vapply(rows, function(r) r$estimate, 0)
  se <- vapply(rows, function(r) r$se, 0)
  between <- rma(yi = b, sei = se, method = "FE")
  list(column = column, groups = rows, q_between = num(between$QE), df = length(labels) - 1,
       p_value = num(between$QEp))
}

regression_fields <- function(column, x, es, spec) {
  res <- fit_uni(es$yi, es$vi, spec, mods = matrix(as.numeric(x), ncol = 1,
                                                   dimnames = list(NULL, column)))
  list(moderator = column, x = as.numeric(x), coef = as.numeric(res$b),
       se = as.numeric(res$se), statistic = as.numeric(res$zval),
       ci_low = as.numeric(res$ci.lb), ci_high = as.numeric(res$ci.ub),
       p_value = as.numeric(res$pval), qm = num(res$QM), qm_df = num(res$QMdf[1]),
       qm_pvalue = num(res$QMp), qe = num(res$QE), qe_df = res$k - res$p,
       qe_pvalue = num(res$QEp), tau2 = num(res$tau2), r2 = num(res$R2), i2 = num(res$I2),
       h2 = num(res$H2), k = res$k)
}

# leave1out / cumul rows (metafor refits with the model's own method, test and control).
sequence_fields <- function(r, ids) {
  stat <- if (is.null(r$zval)) r$tval else r$zval
  out <- list(study_id = ids, estimate = as.numeric(r$estimate), se = as.numeric(r$se),
              statistic = as.numeric(stat), p_value = as.numeric(r$pval),
              ci_low = as.numeric(r$ci.lb), ci_high = as.numeric(r$ci.ub),
              q = as.numeric(r$Q), q_pvalue = as.numeric(r$Qp), i2 = as.numeric(r$I2),
              h2 = as.numeric(r$H2))
  if (!is.null(r$tau2)) out$tau2 <- as.numeric(r$tau2)
  out
}

egger_fields <- function(es) {
  rt <- regtest(rma(es$yi, es$vi, method = "REML", test = "z", control = ctrl))
  list(statistic = num(rt$zval), p_value = num(rt$pval), intercept = num(rt$fit$b[1]),
       slope = num(rt$fit$b[2]), tau2 = num(rt$fit$tau2))
}

trimfill_fields <- function(es, spec) {
  tf <- trimfill(rma(es$yi, es$vi, method = spec$method, test = "z", control = ctrl),
                 control = ctrl)
  list(method = spec$method, estimator = "L0", k0 = tf$k0, side = tf$side,
       estimate = num(tf$b[1]), se = num(tf$se), ci_low = num(tf$ci.lb),
       ci_high = num(tf$ci.ub), p_value = num(tf$pval), tau2 = num(tf$tau2), k = tf$k)
}

# ---------------------------------------------------------------- one analysis
run_analysis <- function(dat, spec) {
  if (!is.null(spec$where)) stop("analysis ", spec$id, ": 'where' is not needed here")
  es <- effects(dat, spec$measure)
  res <- fit(dat, es, spec)
  out <- list(id = spec$id, measure = spec$measure, input = es$input, model = spec$model,
              method = if (spec$model == "fixed") spec$fixed_method else spec$method,
              ci_method = spec$ci_method, test = unname(test_of[spec$ci_method]),
              level = spec$level,
              studies = list(study_id = dat$study_id, yi = es$yi, vi = es$vi),
              pooled = pooled_fields(res))
  if (spec$model == "random") {
    ci <- confint(res, control = ci_ctrl)
    out$tau2_ci <- list(low = num(ci$random["tau^2", "ci.lb"]),
                        high = num(ci$random["tau^2", "ci.ub"]))
    out$trim_and_fill <- trimfill_fields(es, spec)
  }
  out$subgroups <- lapply(unlist(spec$subgroups), function(column)
    subgroup_fields(column, dat[[column]], es, spec))
  out$meta_regression <- lapply(unlist(spec$moderators), function(column)
    regression_fields(column, dat[[column]], es, spec))
  out$leave_one_out <- sequence_fields(leave1out(res), dat$study_id)
  if ("year" %in% names(dat)) {
    o <- order(dat$year)  # stable: ties stay in file order
    res_sorted <- fit(dat[o, ], list(yi = es$yi[o], vi = es$vi[o]), spec)
    out$cumulative <- c(list(order = "year", year = dat$year[o]),
                        sequence_fields(cumul(res_sorted), dat$study_id[o]))
  }
  out$egger <- egger_fields(es)
  out
}

run_review <- function(name) {
  folder <- file.path(reviews_dir, name)
  config <- yaml::read_yaml(file.path(folder, "config", "config.yaml"))
  tables <- unlist(config$tables)
  if (length(tables) != 1) stop(name, ": one raw table expected")
  csv <- file.path(folder, "data", "raw", paste0(tables, ".csv"))
  dat <- read.csv(csv, stringsAsFactors = FALSE, check.names = FALSE, encoding = "UTF-8")
  dat <- derive(dat, config$derived)
  analyses <- lapply(analysis_specs(config), function(spec) run_analysis(dat, spec))
  cat(sprintf("%-14s %2d studies, analyses: %s\n", name, nrow(dat),
              paste(vapply(analyses, `[[`, "", "id"), collapse = ", ")))
  list(name = name, folder = folder, table = csv, k = nrow(dat), analyses = analyses)
}

fixture <- list(meta = meta, reviews = lapply(reviews, run_review))
txt <- toJSON(full_precision(fixture), auto_unbox = TRUE, json_verbatim = TRUE, na = "null",
              null = "null", pretty = TRUE)
writeLines(txt, out_file)
cat("wrote", out_file, "\n")
