# Regenerate tests/reference/dose_response.json, the metafor reference for
# evsynth.dose_response (one-stage dose-response meta-analysis, Crippa et al. 2019).
#
#   Rscript tests/reference/make_dose_response.R        (from the repository root)
#
# Needs R with metafor (written against 3.8.1), metadat, rms and jsonlite. Deterministic: no
# random numbers. Every case holds its inputs and metafor's values, so Python needs no R.
#
# Model: log RR of each non-reference arm against its study's reference arm,
#   rma.mv(yi, V, mods = ~ 0 + X, random = ~ 0 + X | study, struct = "GEN")
# with X the dose terms of the arm minus those of the reference dose (linear: dose;
# quadratic: dose, dose^2; spline: rms::rcspline.eval(dose, knots, inclx = TRUE)), and V
# block-diagonal by study: Var = vi, Cov of two arms sharing the reference = 1/c - 1/n2.
#
# Convergence: the REML surfaces of these models are flat along some directions, and
# metafor's log-likelihood is computed to ~1e-11, so one optimiser run fixes the estimates to
# ~1e-7 at best (1e-5 for the flattest cases here). Each case is therefore fitted with nlminb
# (rel.tol 1e-12, or 1e-10 if that stops with an error) and bobyqa (rhoend 1e-12), each on
# the design as given and on the design with columns scaled to unit root mean square (beta,
# Psi and vcov scaled back; the REML log-likelihood, which metafor writes with
# + 1/2 log|X'X|, does not change). The fit with the largest log-likelihood is kept, with
# `spread`: the largest relative difference of beta, SE(beta) and Psi between it and any other
# run within 1e-8 of its log-likelihood (how far metafor's own answers disagree), and `runs`:
# each run's log-likelihood.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
  library(rms)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
if (!dir.exists(out_dir)) stop("run from the repository root")

meta <- list(
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  rms_version = as.character(packageVersion("rms")),
  generated_by = "tests/reference/make_dose_response.R"
)

# ---- Datasets -------------------------------------------------------------------------------

# (1) Real data: dat.obrien2003 (metadat): 13 cohort studies of maternal BMI and preeclampsia
# (O'Brien, Ray & Chan 2003, Epidemiology 14:368), cases and women per BMI category. The
# reference arm of each study is its lowest category (grp 1, as the to.wide() example in
# ?dat.obrien2003), so the reference dose (dose_control) is that category's BMI midpoint.
obrien <- local({
  d0 <- dat.obrien2003
  ref <- d0[d0$grp == 1, c("study", "bmi", "cases", "total")]
  names(ref) <- c("study", "dose_control", "events_control", "n_control")
  d <- merge(d0[d0$grp != 1, ], ref, by = "study")
  d <- d[order(d$study, d$grp), ]
  data.frame(study_id = sprintf("%s %d", d$author, d$year), dose = d$bmi,
             dose_control = d$dose_control, events_treat = d$cases, n_treat = d$total,
             events_control = d$events_control, n_control = d$n_control)
})

# (2) Synthetic test data (made up for these tests, not from any trial): 12 placebo-
# controlled trials of a drug at doses in mg, 2-4 arms sharing the placebo arm, and trials
# with one dose arm. Slopes differ between trials (clear heterogeneity). T11 has no events on
# placebo; T12 has no events in its 10 mg arm (so 1/2 is added to every cell of its tables).
synthetic_het <- data.frame(
  study_id = c("T01", "T01", "T01", "T02", "T02", "T03", "T04", "T04", "T04", "T05", "T06",
               "T06", "T07", "T08", "T09", "T10", "T10", "T11", "T11", "T12", "T12"),
  dose = c(20, 40, 80, 10, 20, 40, 25, 50, 100, 60, 30, 60, 80, 15, 50, 5, 10, 20, 40, 10, 30),
  events_treat = c(22, 32, 32, 37, 46, 54, 31, 61, 94, 45, 44, 72, 29, 40, 40, 19, 27, 2, 4,
                   0, 9),
  n_treat = c(150, 150, 150, 200, 200, 300, 120, 120, 120, 250, 180, 180, 100, 400, 220, 150,
              150, 60, 60, 80, 80),
  events_control = c(15, 15, 15, 30, 30, 29, 21, 21, 21, 39, 30, 30, 30, 46, 41, 31, 31, 0,
                     0, 5, 5),
  n_control = c(150, 150, 150, 200, 200, 300, 120, 120, 120, 250, 180, 180, 100, 400, 220,
                150, 150, 60, 60, 80, 80)
)

# (3) Synthetic test data with consistent slopes: the slope variance is estimated at the
# boundary (tau^2 = 0) by REML and ML.
synthetic_hom <- data.frame(
  study_id = c("T01", "T01", "T01", "T02", "T02", "T03", "T04", "T04", "T04", "T05", "T06",
               "T06", "T07", "T08", "T09", "T10", "T10"),
  dose = c(20, 40, 80, 10, 20, 40, 25, 50, 100, 60, 30, 60, 80, 15, 50, 5, 10),
  events_treat = c(19, 30, 34, 42, 35, 47, 25, 33, 47, 62, 34, 53, 40, 44, 43, 28, 25),
  n_treat = c(150, 150, 150, 200, 200, 300, 120, 120, 120, 250, 180, 180, 100, 400, 220, 150,
              150),
  events_control = c(18, 18, 18, 35, 35, 29, 22, 22, 22, 29, 24, 24, 23, 32, 23, 21, 21),
  n_control = c(150, 150, 150, 200, 200, 300, 120, 120, 120, 250, 180, 180, 100, 400, 220,
                150, 150)
)

datasets <- list(obrien2003 = obrien, synthetic_het = synthetic_het,
                 synthetic_hom = synthetic_hom)

# ---- Effects and within-study covariance ----------------------------------------------------

# log RR per row (escalc RR). A study with a zero cell in any of its tables gets 1/2 added to
# every cell of all its tables, so its shared reference arm is one and the same in every row.
effects <- function(d) {
  zero <- with(d, events_treat == 0 | events_treat == n_treat |
                 events_control == 0 | events_control == n_control)
  add <- ifelse(ave(zero, d$study_id, FUN = any), 0.5, 0)
  es <- escalc(measure = "RR", ai = d$events_treat + add, n1i = d$n_treat + 2 * add,
               ci = d$events_control + add, n2i = d$n_control + 2 * add, to = "none")
  shared <- 1 / (d$events_control + add) - 1 / (d$n_control + 2 * add)
  study <- factor(d$study_id, levels = unique(d$study_id))
  # rows of a study are contiguous in every dataset here, so bldiag follows the row order
  stopifnot(all(diff(as.integer(study)) >= 0))
  V <- bldiag(lapply(split(seq_len(nrow(d)), study), function(i) {
    m <- matrix(shared[i[1]], length(i), length(i))
    diag(m) <- es$vi[i]
    m
  }))
  list(yi = as.numeric(es$yi), vi = as.numeric(es$vi), V = V, study = study)
}

dose_terms <- function(x, model, knots) {
  switch(model,
         linear = cbind(x),
         quadratic = cbind(x, x^2),
         spline = rcspline.eval(x, knots, inclx = TRUE))
}

# ---- Fitting ---------------------------------------------------------------------------------

controls <- list(
  nlminb = list(optimizer = "nlminb", rel.tol = 1e-12, iter.max = 10000, eval.max = 10000),
  nlminb10 = list(optimizer = "nlminb", rel.tol = 1e-10, iter.max = 10000, eval.max = 10000),
  bobyqa = list(optimizer = "bobyqa", rhoend = 1e-12, maxfun = 100000)
)

fit_once <- function(es, X, method, control, tau2 = NULL, rho = NULL) {
  dat <- data.frame(yi = es$yi, study = es$study, X)
  terms <- paste(colnames(X), collapse = " + ")
  rma.mv(yi, es$V, data = dat, method = method, struct = "GEN", control = control,
         mods = as.formula(paste("~ 0 +", terms)),
         random = as.formula(paste("~ 0 +", terms, "| study")), tau2 = tau2, rho = rho)
}

# Every run on the raw and the column-scaled design; results on the scale of the raw design.
fit_all <- function(es, X, method) {
  runs <- list()
  for (scaled in c(FALSE, TRUE)) {
    u <- if (scaled) sqrt(colMeans(X^2)) else rep(1, ncol(X))
    Xs <- sweep(X, 2, u, "/")
    colnames(Xs) <- paste0("x", seq_len(ncol(X)))
    for (name in c("nlminb", "bobyqa")) {
      res <- tryCatch(fit_once(es, Xs, method, controls[[name]]), error = function(e) NULL)
      if (is.null(res) && name == "nlminb")
        res <- tryCatch(fit_once(es, Xs, method, controls$nlminb10), error = function(e) NULL)
      if (is.null(res)) next
      runs[[length(runs) + 1]] <- list(
        res = res, u = u, label = paste0(name, if (scaled) "-scaled" else ""),
        loglik = as.numeric(logLik(res)), beta = as.numeric(res$b) / u,
        psi = res$G / outer(u, u))
    }
  }
  if (!length(runs)) stop("no rma.mv run converged")
  ll <- vapply(runs, `[[`, 0, "loglik")
  best <- runs[[which.max(ll)]]
  # metafor's own precision: the largest relative difference between the kept run and any
  # run within 1e-8 of its log-likelihood, over beta, their SEs and Psi (relative to Psi's
  # largest element, or to the largest sampling variance of beta when Psi is ~0)
  near <- runs[ll >= max(ll) - 1e-8]
  se <- function(r) sqrt(diag(vcov(r$res))) / r$u
  psi_scale <- max(abs(best$psi), se(best)^2)
  best$spread <- max(vapply(near, function(r) {
    max(abs(r$beta - best$beta) / abs(best$beta), abs(se(r) - se(best)) / se(best),
        abs(r$psi - best$psi) / psi_scale)
  }, 0))
  best$runs <- vapply(runs, function(r) sprintf("%s: %.15g", r$label, r$loglik), "")
  best
}

make_case <- function(name, data_name, model, method, knots = NULL, doses, reference = 0) {
  d <- datasets[[data_name]]
  control_dose <- if (is.null(d$dose_control)) rep(0, nrow(d)) else d$dose_control
  if (model == "spline" && is.null(knots)) knots <- quantile(d$dose, c(0.1, 0.5, 0.9))
  es <- effects(d)
  X <- dose_terms(d$dose, model, knots) - dose_terms(control_dose, model, knots)
  fit <- fit_all(es, X, method)
  res <- fit$res
  u <- fit$u
  vcov <- vcov(res) / outer(u, u)
  newx <- dose_terms(doses, model, knots) -
    dose_terms(rep(reference, length(doses)), model, knots)
  pred <- predict(res, newmods = sweep(newx, 2, u, "/"))
  list(
    name = name, dataset = data_name, model = model, method = method,
    knots = if (is.null(knots)) NULL else unname(as.numeric(knots)),
    yi = es$yi, vi = es$vi,
    coef = fit$beta, se = sqrt(diag(vcov)), vcov = as.numeric(vcov),
    psi = as.numeric(fit$psi), tau2 = diag(fit$psi), rho = res$rho,
    log_likelihood = fit$loglik, k_studies = nlevels(es$study), n_rows = res$k,
    optimizer = fit$label, spread = fit$spread, runs = fit$runs,
    predict = list(dose = doses, reference = reference, log_rr = as.numeric(pred$pred),
                   se = as.numeric(pred$se), ci_low = as.numeric(pred$ci.lb),
                   ci_high = as.numeric(pred$ci.ub))
  )
}

mg <- c(0, 5, 10, 25, 40, 60, 80, 100, 120)
bmi <- c(18, 20, 22.5, 25, 27.5, 30, 35, 40)
cases <- list(
  make_case("obrien-linear-REML", "obrien2003", "linear", "REML", doses = bmi, reference = 20),
  make_case("obrien-linear-ML", "obrien2003", "linear", "ML", doses = bmi, reference = 20),
  make_case("obrien-quadratic-REML", "obrien2003", "quadratic", "REML", doses = bmi,
            reference = 20),
  make_case("obrien-spline-REML", "obrien2003", "spline", "REML", doses = bmi, reference = 20),
  make_case("het-linear-REML", "synthetic_het", "linear", "REML", doses = mg),
  make_case("het-linear-ML", "synthetic_het", "linear", "ML", doses = mg),
  make_case("het-quadratic-REML", "synthetic_het", "quadratic", "REML", doses = mg),
  make_case("het-quadratic-ML", "synthetic_het", "quadratic", "ML", doses = mg),
  make_case("het-spline-REML", "synthetic_het", "spline", "REML", doses = mg),
  make_case("het-spline4-REML", "synthetic_het", "spline", "REML", knots = c(10, 25, 50, 80),
            doses = mg),
  make_case("hom-linear-REML", "synthetic_hom", "linear", "REML", doses = mg),
  make_case("hom-linear-ML", "synthetic_hom", "linear", "ML", doses = mg)
)

# The rms basis itself, rcspline.eval(x, knots, inclx = TRUE) with its default norm = 2.
basis_x <- c(-5, 0, 3, 10, 17.5, 25, 33, 50, 64, 80, 99, 150)
basis_knots <- list(c(10, 25, 80), c(5, 20, 40, 90), c(0, 10, 30, 60, 100),
                    quantile(synthetic_het$dose, c(0.1, 0.5, 0.9)))
basis <- lapply(basis_knots, function(k) {
  list(knots = unname(as.numeric(k)), x = basis_x,
       basis = unname(as.numeric(rcspline.eval(basis_x, k, inclx = TRUE))))
})

# Default knots: quantile type 7 at 10/50/90% of the non-reference doses of each dataset.
default_knots <- lapply(datasets, function(d) unname(quantile(d$dose, c(0.1, 0.5, 0.9))))

# ---- JSON (doubles as %.17g, round-trip exact; NA/NaN as null) --------------------------------

full_precision <- function(x) {
  if (is.list(x)) return(lapply(x, full_precision))
  if (!is.double(x)) return(x)
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  if (length(s) == 1) structure(s, class = "json")
  else structure(paste0("[", paste(s, collapse = ", "), "]"), class = "json")
}

obj <- full_precision(list(meta = meta, datasets = lapply(datasets, as.list),
                           default_knots = default_knots, basis = basis, cases = cases))
txt <- toJSON(obj, auto_unbox = TRUE, json_verbatim = TRUE, na = "null", null = "null",
              pretty = TRUE, digits = NA)
writeLines(txt, file.path(out_dir, "dose_response.json"))
for (case in cases) {
  cat(sprintf("%-24s ll %.10f  optimizer %-15s spread %.1e\n", case$name,
              case$log_likelihood, case$optimizer, case$spread))
}
