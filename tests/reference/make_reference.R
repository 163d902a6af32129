# Regenerate the metafor reference fixtures used by tests/test_reference_metafor.py.
#
#   Rscript tests/reference/make_reference.R        (from the repository root)
#
# Needs R with metafor (written against 3.8.1) and jsonlite (Debian: r-cran-metafor,
# r-cran-jsonlite). Deterministic: random datasets use set.seed() per dataset.
# Every fixture case holds its inputs and the expected values, so Python needs no R.
# Doubles are written with 17 significant digits; NaN/NA are written as null.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
if (!dir.exists(out_dir)) stop("run from the repository root")

# Converge iterative estimators far below the 1e-6 comparison tolerance.
# threshold: Fisher scoring (ML/REML); tol: uniroot (PM, Q-profile CI).
ctrl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)
ctrl_step <- c(ctrl, list(stepadj = 0.5))

meta <- list(
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  generated_by = "tests/reference/make_reference.R"
)

# jsonlite prints at most 15 significant digits; write doubles as "%.17g" (round-trip exact)
# verbatim instead. Length-1 vectors become scalars (Python uses np.atleast_1d for arrays).
full_precision <- function(x) {
  if (is.list(x)) return(lapply(x, full_precision))
  if (!is.double(x)) return(x)
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  if (length(s) == 1) structure(s, class = "json")
  else structure(paste0("[", paste(s, collapse = ", "), "]"), class = "json")
}

write_fixture <- function(name, cases, extra = list()) {
  obj <- full_precision(c(list(meta = meta), extra, list(cases = cases)))
  txt <- toJSON(obj, auto_unbox = TRUE, json_verbatim = TRUE, na = "null", null = "null",
                pretty = TRUE)
  writeLines(txt, file.path(out_dir, name))
  cat(sprintf("%-20s %d cases\n", name, length(cases)))
}

num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
ci_name <- c(z = "z", knha = "hksj", adhoc = "hksj_modified")

# fit rma.uni; retry with step halving; NULL (and a note) if metafor fails
skipped <- list()
fit_rma <- function(yi, vi, method, test, label, mods = NULL) {
  fit <- function(con) {
    if (is.null(mods)) rma(yi, vi, method = method, test = test, control = con)
    else rma(yi, vi, mods = mods, method = method, test = test, control = con)
  }
  res <- tryCatch(fit(ctrl), error = function(e) {
    tryCatch(fit(ctrl_step), error = function(e2) e2)
  })
  if (inherits(res, "error")) {
    skipped[[length(skipped) + 1]] <<- list(case = label, error = conditionMessage(res))
    return(NULL)
  }
  res
}

# ---------------------------------------------------------------- datasets
bcg <- dat.bcg
bcg$n1i <- bcg$tpos + bcg$tneg
bcg$n2i <- bcg$cpos + bcg$cneg
bcg_rr <- escalc("RR", ai = tpos, n1i = n1i, ci = cpos, n2i = n2i, data = bcg)

# dat.collins1985a: H2 antagonists, outcome "bleeding" (b.x*); two trials without data dropped.
# It contains a study with a zero cell (Gilsanz) and a double-zero study (Colecchia).
col <- dat.collins1985a[!is.na(dat.collins1985a$b.xti), ]
col <- data.frame(study = col$trial, ai = col$b.xti, n1i = col$nti, ci = col$b.xci,
                  n2i = col$nci)
col_or <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = col)

egg <- dat.egger2001
egg_or <- escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = egg)

rau <- dat.raudenbush1985

# small made-up 2x2 set with zero cells (no double zero) and one with a double zero
zero <- data.frame(ai = c(0, 3, 5, 1, 12, 0), n1i = c(20, 40, 35, 15, 100, 30),
                   ci = c(2, 6, 9, 0, 15, 4), n2i = c(22, 38, 36, 14, 98, 31))
zero00 <- data.frame(ai = c(0, 3, 0, 1, 12, 7), n1i = c(20, 40, 25, 15, 100, 60),
                     ci = c(2, 6, 0, 0, 15, 11), n2i = c(22, 38, 24, 14, 98, 61))

datasets <- list()
add_ds <- function(name, yi, vi, note = NULL) {
  datasets[[name]] <<- list(yi = as.numeric(yi), vi = as.numeric(vi), note = note)
}
add_ds("dat.bcg", bcg_rr$yi, bcg_rr$vi, "log RR, escalc defaults")
add_ds("dat.collins1985a", col_or$yi, col_or$vi,
       "log OR, bleeding outcome, escalc defaults (add=1/2, to='only0', drop00=FALSE)")
add_ds("dat.raudenbush1985", rau$yi, rau$vi, "SMD as given in the dataset")
add_ds("dat.egger2001", egg_or$yi, egg_or$vi, "log OR, escalc defaults")

# seeded random datasets
for (k in c(1, 2, 3, 5, 10, 20, 50)) {
  for (t2 in c(0, 0.05, 0.5)) {
    set.seed(1000 * k + round(100 * t2))
    vi <- runif(k, 0.01, 0.3)
    yi <- rnorm(k, 0.2, sqrt(vi + t2))
    add_ds(sprintf("sim-k%d-tau2_%s", k, format(t2)), yi, vi)
  }
}
for (k in c(3, 5, 10, 20, 50)) {           # extreme variance ratios (max/min ~ 1e4)
  set.seed(7000 + k)
  vi <- 10^seq(-4, 0, length.out = k)[sample(k)]
  yi <- rnorm(k, -0.3, sqrt(vi + 0.02))
  add_ds(sprintf("sim-extremevar-k%d", k), yi, vi)
}
for (k in c(3, 5, 10, 20, 50)) {           # log OR from binary counts with zero cells
  set.seed(9000 + k)
  n1 <- sample(10:80, k, replace = TRUE)
  n2 <- sample(10:80, k, replace = TRUE)
  p2 <- runif(k, 0.01, 0.08)
  ai <- rbinom(k, n1, pmin(0.9, p2 * 1.5))
  ci <- rbinom(k, n2, p2)
  ai[1] <- 0
  es <- escalc("OR", ai = ai, n1i = n1, ci = ci, n2i = n2)
  add_ds(sprintf("sim-binary-k%d", k), es$yi, es$vi,
         sprintf("log OR from counts ai=%s n1i=%s ci=%s n2i=%s", paste(ai, collapse = ","),
                 paste(n1, collapse = ","), paste(ci, collapse = ","),
                 paste(n2, collapse = ",")))
}
named_ds <- c("dat.bcg", "dat.collins1985a", "dat.raudenbush1985", "dat.egger2001")

# ---------------------------------------------------------------- 1. effects
eff_cases <- list()
add_eff <- function(id, inputs, es) {
  eff_cases[[length(eff_cases) + 1]] <<- list(id = id, inputs = inputs,
    expected = list(yi = as.numeric(es$yi), vi = as.numeric(es$vi)))
}
bin_inputs <- function(d, measure, add = 0.5, to = "only0", drop00 = FALSE) {
  list(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, measure = measure, add = add,
       to = to, drop00 = drop00)
}
bcg2 <- data.frame(ai = bcg$tpos, n1i = bcg$n1i, ci = bcg$cpos, n2i = bcg$n2i)
run_bin <- function(d, measure, add = 0.5, to = "only0", drop00 = FALSE) {
  escalc(measure, ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, add = add, to = to,
         drop00 = drop00)
}
for (m in c("RR", "OR", "RD")) {
  for (to in c("only0", "all", "none")) {
    add_eff(sprintf("dat.bcg-%s-%s", m, to), bin_inputs(bcg2, m, to = to), run_bin(bcg2, m, to = to))
  }
  for (d00 in c(FALSE, TRUE)) {
    for (to in c("only0", "all", "if0all")) {
      add_eff(sprintf("zero00-%s-%s-drop00_%s", m, to, tolower(d00)),
              bin_inputs(zero00, m, to = to, drop00 = d00),
              run_bin(zero00, m, to = to, drop00 = d00))
    }
  }
  add_eff(sprintf("zero00-%s-only0-add0.25", m), bin_inputs(zero00, m, add = 0.25),
          run_bin(zero00, m, add = 0.25))
  add_eff(sprintf("dat.collins1985a-%s-only0", m), bin_inputs(col, m), run_bin(col, m))
}
# RD is finite with to="none" even with zero cells
add_eff("zero00-RD-none", bin_inputs(zero00, "RD", to = "none"), run_bin(zero00, "RD", to = "none"))
nor <- dat.normand1999
for (m in c("MD", "SMD")) {
  es <- escalc(m, m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = nor)
  add_eff(sprintf("dat.normand1999-%s", m),
          list(m1i = nor$m1i, sd1i = nor$sd1i, n1i = nor$n1i, m2i = nor$m2i, sd2i = nor$sd2i,
               n2i = nor$n2i, measure = m), es)
}
write_fixture("effects.json", eff_cases)

# ---------------------------------------------------------------- 2. pool
pool_fields <- function(res, method) {
  pr <- predict(res)
  pi_lb <- if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb
  pi_ub <- if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub
  list(estimate = num(res$b[1]), se = num(res$se), ci_low = num(res$ci.lb),
       ci_high = num(res$ci.ub), statistic = num(res$zval), p_value = num(res$pval),
       df = if (res$test == "z") NA_real_ else num(res$dfs),
       tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE),
       q_df = res$k - 1, q_pvalue = num(res$QEp), pi_low = num(pi_lb), pi_high = num(pi_ub),
       k = res$k)
}
pool_cases <- list()
methods <- c("DL", "REML", "ML", "PM", "SJ", "HE", "EE")
for (ds in names(datasets)) {
  d <- datasets[[ds]]
  tests <- if (ds %in% named_ds || grepl("tau2_0$|k10-tau2_0.05", ds)) c("z", "knha", "adhoc")
           else c("z", "knha")
  for (m in methods) for (tt in tests) {
    id <- sprintf("%s-%s-%s", ds, m, tt)
    if (length(d$yi) == 1 && tt != "z") {  # metafor silently switches to test="z" for k = 1
      skipped[[length(skipped) + 1]] <- list(case = id, error = "k=1: metafor sets test='z'")
      next
    }
    res <- fit_rma(d$yi, d$vi, m, tt, id)
    if (is.null(res)) next
    pool_cases[[length(pool_cases) + 1]] <- list(id = id, dataset = ds, method = m,
      test = tt, ci_method = unname(ci_name[tt]), expected = pool_fields(res, m))
  }
}
write_fixture("pool.json", pool_cases, list(datasets = datasets, skipped = skipped))

# ---------------------------------------------------------------- 3. tau2_ci
ci_cases <- list()
ci_ds <- c(named_ds, "sim-k5-tau2_0.5", "sim-k10-tau2_0.05", "sim-k20-tau2_0.5",
           "sim-k50-tau2_0", "sim-extremevar-k10", "sim-binary-k20")
for (ds in ci_ds) for (m in c("REML", "DL", "PM", "ML")) {
  d <- datasets[[ds]]
  id <- sprintf("%s-%s", ds, m)
  res <- fit_rma(d$yi, d$vi, m, "z", id)
  if (is.null(res)) next
  ci <- tryCatch(confint(res, control = list(tol = 1e-12, maxiter = 10000)),
                 error = function(e) e)
  if (inherits(ci, "error")) {
    skipped[[length(skipped) + 1]] <- list(case = paste0("tau2_ci-", id), error = conditionMessage(ci))
    next
  }
  ci_cases[[length(ci_cases) + 1]] <- list(id = id, yi = d$yi, vi = d$vi, method = m,
    level = 0.95, expected = list(tau2 = num(res$tau2),
      low = num(ci$random["tau^2", "ci.lb"]), high = num(ci$random["tau^2", "ci.ub"])))
}
write_fixture("tau2_ci.json", ci_cases)

# ---------------------------------------------------------------- 4. fixed effects
fe_cases <- list()
fe_ds <- list(dat.bcg = bcg2, dat.collins1985a = col[, c("ai", "n1i", "ci", "n2i")],
              dat.egger2001 = egg[, c("ai", "n1i", "ci", "n2i")], zero = zero)
fe_fields <- function(res) list(estimate = num(res$b[1]), se = num(res$se),
  ci_low = num(res$ci.lb), ci_high = num(res$ci.ub), statistic = num(res$zval),
  p_value = num(res$pval), q = num(res$QE), q_df = res$k.yi - 1, q_pvalue = num(res$QEp),
  i2 = num(res$I2), h2 = num(res$H2), k = res$k)
for (ds in names(fe_ds)) {
  d <- fe_ds[[ds]]
  inp <- list(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
  for (m in c("RR", "OR", "RD")) {
    res <- rma.mh(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i, measure = m)
    fe_cases[[length(fe_cases) + 1]] <- list(id = sprintf("%s-MH-%s", ds, m), method = "MH",
      measure = m, inputs = inp, expected = fe_fields(res))
  }
  res <- rma.peto(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
  fe_cases[[length(fe_cases) + 1]] <- list(id = sprintf("%s-Peto-OR", ds), method = "Peto",
    measure = "OR", inputs = inp, expected = fe_fields(res))
}
write_fixture("fixed_effects.json", fe_cases,
  list(note = paste("metafor defaults: the MH/Peto estimate uses the raw counts; Q (and I2/H2)",
    "use escalc yi/vi with add=1/2, to='only0', drop00=TRUE; q_df = k.yi - 1.")))

# ---------------------------------------------------------------- 5. regression
reg_cases <- list()
for (mods_name in c("ablat", "ablat+year")) {
  X <- if (mods_name == "ablat") cbind(ablat = bcg$ablat) else cbind(ablat = bcg$ablat, year = bcg$year)
  for (m in c("REML", "DL", "ML")) for (tt in c("z", "knha")) {
    id <- sprintf("dat.bcg-%s-%s-%s", mods_name, m, tt)
    res <- fit_rma(bcg_rr$yi, bcg_rr$vi, m, tt, id, mods = X)
    if (is.null(res)) next
    reg_cases[[length(reg_cases) + 1]] <- list(id = id, method = m, test = tt,
      ci_method = unname(ci_name[tt]),
      inputs = list(yi = as.numeric(bcg_rr$yi), vi = as.numeric(bcg_rr$vi),
                    moderators = unname(lapply(seq_len(nrow(X)), function(i) X[i, ])),
                    names = colnames(X)),
      expected = list(names = c("intrcpt", colnames(X)), coef = as.numeric(res$b),
        se = as.numeric(res$se), statistic = as.numeric(res$zval),
        ci_low = as.numeric(res$ci.lb), ci_high = as.numeric(res$ci.ub),
        p_value = as.numeric(res$pval), qm = num(res$QM), qm_df = num(res$QMdf[1]),
        qm_df2 = num(res$QMdf[2]), qm_pvalue = num(res$QMp), tau2 = num(res$tau2),
        r2 = num(res$R2), i2 = num(res$I2), h2 = num(res$H2), qe = num(res$QE),
        qe_df = res$k - res$p, qe_pvalue = num(res$QEp), k = res$k))
  }
}
write_fixture("regression.json", reg_cases)

# ---------------------------------------------------------------- 6. small-study
egger_cases <- list()
tf_cases <- list()
# dat.hackshaw1998 (passive smoking, lung cancer; log OR given) is a second asymmetric set
hack <- dat.hackshaw1998
ss_ds <- list(dat.egger2001 = egg_or, dat.bcg = bcg_rr,
              dat.hackshaw1998 = data.frame(yi = hack$yi, vi = hack$vi))
for (ds in names(ss_ds)) {
  d <- ss_ds[[ds]]
  res <- rma(d$yi, d$vi, method = "REML", control = ctrl)
  rt <- regtest(res)  # refits with res$control
  egger_cases[[length(egger_cases) + 1]] <- list(id = ds, kind = "egger", yi = as.numeric(d$yi),
    vi = as.numeric(d$vi), expected = list(statistic = num(rt$zval), p_value = num(rt$pval)))
  for (m in c("REML", "DL")) {
    res <- rma(d$yi, d$vi, method = m, control = ctrl)
    tf <- trimfill(res, control = ctrl)  # `...` reach the internal rma.uni refits
    tf_cases[[length(tf_cases) + 1]] <- list(id = sprintf("%s-%s", ds, m),
      kind = "trim_and_fill", method = m,
      estimator = "L0", yi = as.numeric(d$yi), vi = as.numeric(d$vi),
      expected = list(k0 = tf$k0, side = tf$side, estimate = num(tf$b[1]), se = num(tf$se),
        ci_low = num(tf$ci.lb), ci_high = num(tf$ci.ub), p_value = num(tf$pval),
        tau2 = num(tf$tau2), k = tf$k))
  }
}
write_fixture("small_study.json", c(egger_cases, tf_cases))

# ---------------------------------------------------------------- 7. sensitivity
sens_cases <- list()
bcg_sorted <- bcg_rr[order(bcg_rr$year), ]
for (m in c("REML", "DL")) {
  res <- rma(yi, vi, data = bcg_rr, method = m, control = ctrl)
  l1 <- leave1out(res)  # leave1out and cumul refit with res$control
  res_s <- rma(yi, vi, data = bcg_sorted, method = m, control = ctrl)
  cu <- cumul(res_s)
  for (kind in c("leave_one_out", "cumulative")) {
    r <- if (kind == "leave_one_out") l1 else cu
    d <- if (kind == "leave_one_out") bcg_rr else bcg_sorted
    stat <- if (is.null(r$zval)) r$tval else r$zval
    sens_cases[[length(sens_cases) + 1]] <- list(id = sprintf("dat.bcg-%s-%s-z", kind, m),
      kind = kind, method = m, ci_method = "z",
      inputs = list(yi = as.numeric(d$yi), vi = as.numeric(d$vi), year = d$year,
                    labels = paste(d$author, d$year)),
      expected = list(estimate = as.numeric(r$estimate), se = as.numeric(r$se),
        statistic = as.numeric(stat), p_value = as.numeric(r$pval),
        ci_low = as.numeric(r$ci.lb), ci_high = as.numeric(r$ci.ub),
        q = as.numeric(r$Q), q_pvalue = as.numeric(r$Qp), tau2 = as.numeric(r$tau2),
        i2 = as.numeric(r$I2), h2 = as.numeric(r$H2)))
  }
}
write_fixture("sensitivity.json", sens_cases,
  list(note = "cumulative inputs are pre-sorted by year (stable); pass order=year"))

# ---------------------------------------------------------------- 8. subgroups
groups <- as.character(bcg_rr$alloc)
sub_rows <- list()
for (g in unique(groups)) {
  s <- groups == g
  r <- rma(bcg_rr$yi[s], bcg_rr$vi[s], method = "REML", control = ctrl)
  sub_rows[[g]] <- c(list(group = g), pool_fields(r, "REML"))
}
b <- sapply(sub_rows, function(x) x$estimate)
se <- sapply(sub_rows, function(x) x$se)
sep <- rma(yi = b, sei = se, method = "FE")
com <- rma(bcg_rr$yi, bcg_rr$vi, mods = ~ factor(groups), method = "REML", control = ctrl)
sub_cases <- list(
  list(id = "dat.bcg-alloc-REML-separate", tau2 = "separate", method = "REML", ci_method = "z",
       inputs = list(yi = as.numeric(bcg_rr$yi), vi = as.numeric(bcg_rr$vi), groups = groups),
       expected = list(subgroups = unname(sub_rows), q_between = num(sep$QE),
                       df = sep$k - 1, p_value = num(sep$QEp))),
  list(id = "dat.bcg-alloc-REML-common", tau2 = "common", method = "REML", ci_method = "z",
       inputs = list(yi = as.numeric(bcg_rr$yi), vi = as.numeric(bcg_rr$vi), groups = groups),
       expected = list(q_between = num(com$QM), df = num(com$QMdf[1]), p_value = num(com$QMp),
                       tau2_common = num(com$tau2))))
write_fixture("subgroups.json", sub_cases)

# ---------------------------------------------------------------- 9. absolute (no metafor)
abs_cases <- list()
tables <- list(
  "WHI-kidney-stones" = c(449, 18176, 381, 18106),
  "benefit-small" = c(30, 500, 60, 500),
  "harm-ci-crosses-0" = c(25, 400, 20, 410),
  "benefit-ci-crosses-0" = c(12, 150, 18, 155))
z <- qnorm(0.975)
for (nm in names(tables)) {
  x <- tables[[nm]]
  p1 <- x[1] / x[2]; p2 <- x[3] / x[4]
  rd <- p1 - p2
  se_rd <- sqrt(p1 * (1 - p1) / x[2] + p2 * (1 - p2) / x[4])
  abs_cases[[length(abs_cases) + 1]] <- list(id = nm,
    inputs = list(ai = x[1], n1i = x[2], ci = x[3], n2i = x[4], level = 0.95),
    expected = list(risk_difference = rd, se = se_rd, rd_ci_low = rd - z * se_rd,
                    rd_ci_high = rd + z * se_rd, inv_rd = 1 / rd))
}
write_fixture("absolute.json", abs_cases,
  list(note = "RD = ai/n1i - ci/n2i, Wald CI with qnorm(0.975); inv_rd = 1/RD"))

cat(sprintf("skipped (metafor error): %d\n", length(skipped)))
for (s in skipped) cat("  ", s$case, ":", s$error, "\n")
