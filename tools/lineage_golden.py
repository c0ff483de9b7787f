#!/usr/bin/python3
"""Golden values for tests/lineage/pvalues_test.cpp, from scipy (moderate tails) and mpmath at 50
digits (tails far below the double range). Run with Debian's /usr/bin/python3 (numpy, scipy,
mpmath) and paste the printed C++ tables into the test. Test-authoring time only."""
import numpy as np
import mpmath as mp
from scipy import special, stats

mp.mp.dps = 50
LN10 = np.log(10.0)

print("// log10 P(T_nu > t): {t, nu, log10 sf, log10 two-sided}  (scipy.stats.t.logsf)")
for nu in [1.0, 3.0, 10.0, 98.0, 1000.0, 11006.0]:
    for t in [-3.0, -1.0, 0.5, 2.0, 5.0, 10.0, 30.0]:
        one = stats.t.logsf(t, nu) / LN10
        two = (np.log(2.0) + stats.t.logsf(abs(t), nu)) / LN10
        print(f"    {{{t!r}, {nu!r}, {one!r}, {two!r}}},")

print("// log10 P(chi2_k > x): {x, k, log10 sf}  (scipy.stats.chi2.logsf)")
for k in [1.0, 2.0, 3.5, 8.0, 64.0]:
    for x in [0.5, 5.0, 50.0, 300.0]:
        print(f"    {{{x!r}, {k!r}, {stats.chi2.logsf(x, k) / LN10!r}}},")

print("// ln I_x(a, b): {a, b, x, ln}  (scipy.special.betainc)")
for a, b, x in [(0.5, 0.5, 0.3), (2.0, 3.0, 0.9), (50.0, 0.5, 0.2), (5503.0, 0.5, 0.99),
                (10.0, 10.0, 0.5), (0.7, 40.0, 0.001)]:
    print(f"    {{{a!r}, {b!r}, {x!r}, {float(np.log(special.betainc(a, b, x)))!r}}},")

print("// Spearman on a[i] = (17 i) % 53, b[i] = i^2 % 97, i < 53 (b has ties): rho, two-sided p")
i = np.arange(53)
a = (17 * i) % 53
b = (i * i) % 97
r = stats.spearmanr(a, b)
print(f"    rho={float(r.statistic)!r} log10p2={float(np.log10(r.pvalue))!r}")

print("// mpmath: one-sided Spearman/t tails at n = 11008 and Fisher tails (log10)")
def t_one_sided_log10(rho, n):
    nu = mp.mpf(n - 2)
    x = 1 - mp.mpf(rho) ** 2
    return mp.log10(mp.betainc(nu / 2, mp.mpf(1) / 2, 0, x, regularized=True) / 2)
for rho in ["0.05", "0.1", "0.5", "0.9"]:
    print(f"    rho={rho} n=11008 log10p1={mp.nstr(t_one_sided_log10(rho, 11008), 15)}")
def fisher_log10(p, k):
    X = -2 * k * mp.log(mp.mpf(p))
    return mp.log10(mp.gammainc(k, X / 2, mp.inf, regularized=True))
for p in ["0.5", "0.05", "1e-5", "1e-300"]:
    print(f"    fisher p={p} x32 log10={mp.nstr(fisher_log10(p, 32), 15)}")
